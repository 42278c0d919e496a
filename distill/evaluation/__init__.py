"""Student vs teacher vs a TF-IDF peer on gold labels: metrics, the report, the plots."""
