"""Reading labelled and unlabelled texts (``reader``) and label sets with their presets (``labelset``)."""
