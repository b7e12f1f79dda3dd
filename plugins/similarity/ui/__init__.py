"""The similarity family's Qt parts (GUI only): video copy detection's result view, the similar-images panel."""
