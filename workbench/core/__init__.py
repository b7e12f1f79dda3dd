"""Qt-free core: media, results, the analyzer API and the device choice."""
