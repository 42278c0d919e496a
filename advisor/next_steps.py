"""What to run after a recommendation: the next commands, and for ``distill`` a ready config."""

from __future__ import annotations

import yaml

from advisor.engine import Recommendation

CONFIG_INTRO = {
    "en": "Save this as distill.yaml, fill in your data and labels, then run `advisor distill run distill.yaml`:",
    "zh": "将以下内容保存为 distill.yaml，填入你的数据和标签，然后运行 `advisor distill run distill.yaml`：",
}


def distill_config(rec: Recommendation) -> dict:
    """A starting config for ``advisor distill run``, shaped by the answers."""
    values = rec.answers.values
    edge = values.get("deployment") == "edge"
    return {
        "run_dir": "runs/my-task",
        "data": {"path": "my_texts.csv", "text_column": "text"},
        "labels": ["label_a", "label_b"],
        "teacher": {
            # null = the embedded SmolLM2-135M demo teacher. Point it at a stronger local model
            # (HF dir or .gguf), or an OpenAI-compatible server (vLLM/Ollama/llama.cpp/OpenAI).
            "model": None,
            "calibrate": "content-free",
        },
        "student": {"model": None},
        "gold": None,
        "export": {"target": "arm64" if edge else "auto"},
    }


def next_steps(rec: Recommendation) -> dict:
    o = rec.outcome
    if o == "distill":
        return {
            "commands": ["advisor distill run distill.yaml",
                         "advisor demo  # the same pipeline on SST-2 with the embedded models"],
            "config": yaml.safe_dump(distill_config(rec), sort_keys=False, allow_unicode=True).rstrip(),
            "config_intro": CONFIG_INTRO,
        }
    if o == "bert":
        return {"commands": [
            "advisor distill train --labels my_gold.jsonl --alpha 0 --out runs/bert  # fine-tune on your labels",
            "advisor export runs/bert/student --out runs/bert/bundle"]}
    if o == "gpt":
        return {"commands": [
            "advisor distill label --data my_gold.csv --labels label_a,label_b --label-column label "
            "--teacher http://localhost:8000/v1 --server-model MODEL --select-prompt --out runs/llm-check"
            "  # measure the LLM's prompts on a gold set"]}
    if o == "hybrid":
        return {"commands": [
            "advisor distill run distill.yaml  # the BERT stage (intents / retrieval filter), distilled from a GPT",
            "# generation stage: serve an open-weight LLM (vLLM, Ollama, llama.cpp server) behind the BERT"]}
    return {"commands": ["# fine-tune T5/BART with transformers' Seq2SeqTrainer on your input/output pairs"]}
