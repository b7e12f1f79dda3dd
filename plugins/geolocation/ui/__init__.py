"""The geolocation family's Qt parts (GUI only): the map tab of its results."""
