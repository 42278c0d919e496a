"""GPT -> BERT knowledge distillation: a teacher labels texts with per-class probabilities,
a small encoder student is trained on them."""
