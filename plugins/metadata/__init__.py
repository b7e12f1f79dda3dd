"""Metadata: EXIF/XMP/IPTC, GPS, embedded thumbnail, JPEG quantisation, file hashes."""
