"""Forgery localisation: per-pixel maps of where an image may have been edited."""
