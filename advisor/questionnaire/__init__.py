"""The questionnaire: rules taken from the seed documents (``rules.yaml``), the engine that walks them,
the rendering of a recommendation, its cost figures, next steps and measurements."""
