"""What to run after a recommendation, for every outcome and task kind.

The toolkit distils text classifiers, sentence-pair classifiers and entity taggers (``advisor
distill``, task kinds ``classification``, ``pairs`` and ``ner``); for them the next steps are
commands that run as printed (a complete ``distill.yaml`` of the right task kind for distill,
hybrid and the sentence-pair bert route, the ``gold-labels`` + ``distill train`` fine-tuning route
for classification under bert). For what the toolkit does not train (generation, retrieval,
extractive QA, open-schema extraction written out as text) the steps are honest pointers (``kind: pointer``) to the tools to use instead. Paths the user did not give are
placeholders (``my_texts.csv``, ``my_gold.csv``) named as such.
"""

from __future__ import annotations

from advisor.questionnaire.engine import Recommendation

PLACEHOLDER_DATA = "my_texts.csv"
PLACEHOLDER_GOLD = "my_gold.csv"
PLACEHOLDER_LABELS = ("label_a", "label_b")
GENERATIVE = ("generation", "dialogue", "summarization", "translation", "reasoning")
# the questionnaire's task -> the toolkit's task kind (distill/tasks) whose config the next steps print
CONFIG_KIND = {"classification": "classification", "matching": "pairs", "extraction": "ner"}
# an entity task reads JSON lines: {"text": ...} to label, {"text": ..., "spans": [{start, end, type}]} as gold
NER_DATA, NER_GOLD = "my_texts.jsonl", "my_gold.jsonl"
PLACEHOLDER_TYPES = ("type_a", "type_b")

T = {
    "en": {
        "measure": "time the candidates on this machine at your sequence length",
        "dry": "check the config and see the plan, the teacher's speed and the outputs",
        "run": "label -> train -> evaluate -> export -> verify -> bench",
        "gold": "your gold file (text,label) as labels.jsonl",
        "train": "fine-tune the encoder on your labels (alpha 0: hard labels only)",
        "export": "int8 ONNX bundle, verified against PyTorch",
        "predict": "run the bundle",
        "llm_check": "score an LLM's prompt on your gold set (accuracy, confusion matrix)",
        "save": "Save this as {name} (every default is commented), then run the commands above:",
        "placeholders": "Placeholders to replace: {items}.",
        "p_ner": "entities as tagged spans are the toolkit's task kind ner (examples/wnut17.yaml): with gold spans only, turn them into labels with `advisor gold-labels GOLD --task ner --label-set TYPES --out RUN` and train with `advisor distill train --labels RUN/labels.jsonl --task ner --alpha 0 --out RUN`; open-schema extraction written out as text is a job for a generator",
        "p_qa": "extractive QA is not a task kind of this toolkit: fine-tune an encoder for question answering with transformers (AutoModelForQuestionAnswering; examples/pytorch/question-answering/run_qa.py)",
        "p_retrieval": "retrieval / ranking is not trained by this toolkit: embed queries and documents with a sentence encoder (sentence-transformers; the embedded all-MiniLM-L6-v2 works out of the box) and rank by cosine similarity; fine-tune a cross-encoder re-ranker with sentence-transformers when you have labelled pairs",
        "p_pair": "the config above distils a cross-encoder ([CLS] A [SEP] B) from an LLM teacher's labels of your unlabelled pairs (task: pairs); without any classifier, compare sentence embeddings (all-MiniLM-L6-v2) by cosine similarity",
        "p_existing": "keep your existing BERT; to ship it as a verified int8 ONNX bundle: advisor export YOUR_MODEL_DIR --out bundle (a sequence-classification model directory)",
        "p_serve_llm": "serve the decoder: an open-weight model behind vLLM, llama.cpp's server or Ollama (OpenAI-compatible API), or a hosted API; this toolkit does not train or serve generators",
        "p_lora": "with labelled input/output pairs, adapt the decoder with LoRA / P-Tuning (Hugging Face PEFT) rather than full fine-tuning",
        "p_seq2seq": "fine-tune T5 / BART on your input/output pairs with transformers' Seq2SeqTrainer (examples/pytorch/summarization/run_summarization.py), or a prefix-LM such as GLM; this toolkit does not train encoder-decoders",
        "p_time_server": "time your own LLM server: advisor recommend ... --measure --teacher http://HOST:PORT/v1",
        "p_gen_stage": "generation stage: serve an open-weight LLM (vLLM, llama.cpp server, Ollama) behind the BERT stage; only the texts the BERT passes on reach it",
        "p_rag_stage": "retrieval stage: embed your documents with a sentence encoder (sentence-transformers; the embedded all-MiniLM-L6-v2) and retrieve by cosine similarity; this toolkit does not train retrievers",
        "p_distill_other": "distillation in this toolkit trains text and sentence-pair classifiers and entity taggers; for {task}, prompt your GPT teacher to write the spans/answers as JSON and fine-tune the matching encoder (see the pointer below) on them",
        "p_student_lang": "the default student (all-MiniLM-L6-v2) is English; for {lang} texts set student.model / --student to a local {lang} encoder directory (see the model list)",
    },
    "zh": {
        "measure": "在本机按你的序列长度实测各候选模型",
        "dry": "检查配置，查看计划、教师模型速度和输出文件",
        "run": "标注 -> 训练 -> 评估 -> 导出 -> 校验 -> 基准测试",
        "gold": "把金标文件（text,label）转换为 labels.jsonl",
        "train": "在你的标注上微调编码器（alpha 0：只用硬标签）",
        "export": "导出 int8 ONNX 包，并与 PyTorch 对比校验",
        "predict": "运行导出的模型包",
        "llm_check": "在金标数据上评估大模型提示词（准确率、混淆矩阵）",
        "save": "将以下内容保存为 {name}（每个默认值都有注释），然后运行上面的命令：",
        "placeholders": "需要替换的占位符：{items}。",
        "p_ner": "以文本片段标注的实体是本工具的 ner 任务类型（examples/wnut17.yaml）：只有金标片段时，用 `advisor gold-labels GOLD --task ner --label-set TYPES --out RUN` 转换，再用 `advisor distill train --labels RUN/labels.jsonl --task ner --alpha 0 --out RUN` 训练；以文本形式输出的开放模式抽取应交给生成模型",
        "p_qa": "本工具不支持抽取式问答：用 transformers 微调问答编码器（AutoModelForQuestionAnswering；examples/pytorch/question-answering/run_qa.py）",
        "p_retrieval": "本工具不训练检索/排序模型：用句向量编码器（sentence-transformers；内置的 all-MiniLM-L6-v2 可直接使用）对查询和文档编码并按余弦相似度排序；有成对标注时用 sentence-transformers 微调交叉编码器重排序",
        "p_pair": "上面的配置用大模型教师对未标注句对的标注蒸馏出交叉编码器（[CLS] A [SEP] B，task: pairs）；若不需要分类器，可用句向量（all-MiniLM-L6-v2）的余弦相似度比较",
        "p_existing": "沿用现有的 BERT；如需导出为经校验的 int8 ONNX 包：advisor export YOUR_MODEL_DIR --out bundle（序列分类模型目录）",
        "p_serve_llm": "部署解码器：用 vLLM、llama.cpp server 或 Ollama 提供开源权重模型（OpenAI 兼容接口），或使用托管 API；本工具不训练也不部署生成模型",
        "p_lora": "有成对的输入/输出标注时，用 LoRA / P-Tuning（Hugging Face PEFT）适配解码器，而不是全参数微调",
        "p_seq2seq": "用 transformers 的 Seq2SeqTrainer 在成对数据上微调 T5 / BART（examples/pytorch/summarization/run_summarization.py），或使用 GLM 等前缀语言模型；本工具不训练编码器-解码器",
        "p_time_server": "实测你自己的大模型服务：advisor recommend ... --measure --teacher http://HOST:PORT/v1",
        "p_gen_stage": "生成阶段：在 BERT 阶段之后部署开源权重大模型（vLLM、llama.cpp server、Ollama）；只有 BERT 放行的文本才会到达它",
        "p_rag_stage": "检索阶段：用句向量编码器（sentence-transformers；内置的 all-MiniLM-L6-v2）对文档编码并按余弦相似度检索；本工具不训练检索模型",
        "p_distill_other": "本工具的蒸馏训练文本分类器、句对分类器和实体标注器；对于 {task}，请让 GPT 教师模型以 JSON 输出片段/答案，再据此微调相应的编码器（见下方指引）",
        "p_student_lang": "默认学生模型（all-MiniLM-L6-v2）是英文模型；{lang}文本请把 student.model / --student 设为本地的{lang}编码器目录（见模型列表）",
    },
}

CONFIG_COMMENTS = {
    "en": {
        "head": "distill.yaml - written by `advisor recommend`; checked by `advisor distill run distill.yaml --dry-run`",
        "run_dir": "everything this run writes goes here (resumable)",
        "data": "your UNLABELLED texts, one per row, for the teacher to label",
        "data_ph": "your UNLABELLED texts, one per row (placeholder: replace with your file)",
        "text_column": "the column holding the text",
        "text_pair_column": "the column holding the second text of each pair",
        "ner_data": "your UNLABELLED texts as JSON lines {\"text\": ...} (placeholder: replace with your file)",
        "ner_gold": "a few hundred HAND-annotated texts as JSON lines {\"text\": ..., \"spans\": [{\"start\", \"end\", \"type\"}]} (character offsets, end exclusive; placeholder: replace with your file)",
        "ner_format": "spans: JSON lines; conll (token<TAB>tag) and cluener are read too",
        "ner_types": "your entity types (placeholder: replace with yours)",
        "multi_label_column": "the column holding each text's gold labels, joined by ',' (e.g. label_a,label_b)",
        "task": "the task kind: {kind} (docs/dev/task-kinds.md)",
        "labels": "your label names, in order (placeholder: replace with yours)",
        "labels_given": "your label names, in order",
        "teacher": "the GPT teacher that labels the texts",
        "teacher_default": "default = the embedded SmolLM2-135M-Instruct demo teacher: weak (0.807 on SST-2, docs/benchmarks.md). For real work give a strong LLM: a local .gguf file or HF directory, or an OpenAI-compatible URL http://HOST:PORT/v1 (vLLM, llama.cpp, Ollama) with server_model",
        "teacher_given": "your teacher (a local model, or an OpenAI-compatible server URL)",
        "calibrate": "contextual calibration of the teacher's label probabilities (default content-free for a GPT teacher)",
        "student": "the BERT student that serves",
        "student_model": "null = the embedded all-MiniLM-L6-v2 (English, 6 layers); or a local encoder directory",
        "layers": "keep the bottom N layers: {why}",
        "training": "distillation settings (the toolkit's defaults, docs/distillation.md)",
        "alpha": "weight of the soft (KL) term vs the hard label; 0 = hard labels only",
        "temperature": "softening temperature of the teacher and student distributions",
        "epochs": "passes over the labelled texts",
        "gold": "a few hundred HAND-labelled texts to score teacher, student and int8 bundle; remove this section and the evaluate stage is skipped (not recommended)",
        "gold_ph": "a few hundred HAND-labelled texts (placeholder: replace with your file); remove this section and the evaluate stage is skipped (not recommended)",
        "label_column": "the column holding the gold label",
        "export": "int8 ONNX bundle for serving",
        "target": "{why}",
        "bench": "latency/throughput of student vs teacher on this machine",
        "bench_enabled": "default true; false skips the benchmark stage",
        "data_section": "the texts to label",
        "gold_section": "the gold set (evaluation)",
    },
    "zh": {
        "head": "distill.yaml —— 由 `advisor recommend` 生成；可用 `advisor distill run distill.yaml --dry-run` 检查",
        "run_dir": "本次运行的所有输出都写在这里（可断点续跑）",
        "data": "你的未标注文本，每行一条，由教师模型标注",
        "data_ph": "你的未标注文本，每行一条（占位符：请换成你的文件）",
        "text_column": "存放文本的列",
        "text_pair_column": "存放句对中第二个文本的列",
        "ner_data": "你的未标注文本，JSON Lines 格式 {\"text\": ...}（占位符：请换成你的文件）",
        "ner_gold": "几百条人工标注的文本，JSON Lines 格式 {\"text\": ..., \"spans\": [{\"start\", \"end\", \"type\"}]}（字符偏移，end 不含；占位符：请换成你的文件）",
        "ner_format": "spans：JSON Lines；也可读 conll（token<TAB>tag）和 cluener 格式",
        "ner_types": "你的实体类型（占位符：请换成你的类型）",
        "multi_label_column": "存放每条文本金标标签的列，多个标签用 ',' 连接（如 label_a,label_b）",
        "task": "任务类型：{kind}（见 docs/dev/task-kinds.md）",
        "labels": "你的标签名称，按顺序（占位符：请换成你的标签）",
        "labels_given": "你的标签名称，按顺序",
        "teacher": "负责标注文本的 GPT 教师模型",
        "teacher_default": "default = 内置的 SmolLM2-135M-Instruct 演示教师模型：能力弱（SST-2 上 0.807，见 docs/benchmarks.md）。实际使用请换成强大模型：本地 .gguf 文件或 HF 目录，或 OpenAI 兼容地址 http://HOST:PORT/v1（vLLM、llama.cpp、Ollama）并设置 server_model",
        "teacher_given": "你的教师模型（本地模型，或 OpenAI 兼容服务地址）",
        "calibrate": "对教师模型的标签概率做上下文校准（GPT 教师默认 content-free）",
        "student": "上线服务的 BERT 学生模型",
        "student_model": "null = 内置的 all-MiniLM-L6-v2（英文，6 层）；或本地编码器目录",
        "layers": "只保留底部 N 层：{why}",
        "training": "蒸馏设置（本工具默认值，见 docs/distillation.md）",
        "alpha": "软标签（KL）项相对硬标签的权重；0 = 只用硬标签",
        "temperature": "教师和学生分布的软化温度",
        "epochs": "遍历已标注文本的轮数",
        "gold": "几百条人工标注的文本，用于评估教师、学生和 int8 模型包；删除此节则跳过评估阶段（不推荐）",
        "gold_ph": "几百条人工标注的文本（占位符：请换成你的文件）；删除此节则跳过评估阶段（不推荐）",
        "label_column": "存放金标标签的列",
        "export": "用于上线服务的 int8 ONNX 模型包",
        "target": "{why}",
        "bench": "在本机测量学生与教师模型的时延/吞吐",
        "bench_enabled": "默认 true；false 则跳过基准测试阶段",
        "data_section": "待标注的文本",
        "gold_section": "金标数据集（用于评估）",
    },
}


def _q(value: str) -> str:
    """A YAML scalar, quoted when needed."""
    import yaml

    return yaml.safe_dump(value, default_flow_style=True, allow_unicode=True).strip().removesuffix("\n...").strip()


def student_layers(rec: Recommendation, evidence: dict | None, lang: str) -> tuple[int | None, str]:
    """The layer count that fits the latency budget: measured (--measure) or estimated."""
    from advisor.questionnaire.cost import BENCH_SOURCE, student_layers_estimate

    a = rec.answers
    latency, seq_len = a.peek("latency_ms", 1000), int(a.peek("seq_len", 128))
    st = (evidence or {}).get("student")
    if st:
        ch = st.get("chosen")
        if ch:
            return ch["layers"], (f"measured: {ch['layers']} of 6 layers, p95 {ch['p95_ms']:g} ms <= {latency:g} ms at {seq_len} tokens"
                                  if lang == "en" else f"实测：{ch['layers']} 层 p95 {ch['p95_ms']:g} ms <= {latency:g} ms（{seq_len} tokens）")
        return 1, ("measured: even 1 layer misses the budget; shorten inputs or relax it" if lang == "en"
                   else "实测：即使 1 层也超出预算；请缩短输入或放宽预算")
    n, est = student_layers_estimate(latency, seq_len)
    if n is None:
        n = min(est)
        return n, (f"estimate: no layer count fits {latency:g} ms at {seq_len} tokens ({BENCH_SOURCE}); run --measure"
                   if lang == "en" else f"估计：{seq_len} tokens 下没有层数能满足 {latency:g} ms；请运行 --measure")
    return n, (f"estimate: p50 {est[n]:.2f} ms <= {latency:g} ms at {seq_len} tokens ({BENCH_SOURCE}); confirm with --measure"
               if lang == "en" else f"估计：{seq_len} tokens 下 p50 {est[n]:.2f} ms <= {latency:g} ms（来自 docs/benchmarks.md 第 1 节按长度线性换算）；请用 --measure 确认")


def distill_config(rec: Recommendation, lang: str = "en", inputs: dict | None = None,
                   evidence: dict | None = None, run_dir: str = "runs/my-task", kind: str = "classification") -> str:
    """A complete, commented config for ``advisor distill run`` of task kind ``kind``, shaped by the answers."""
    from distill.training.config import DistillationConfig

    inputs = inputs or {}
    c = CONFIG_COMMENTS[lang]
    a = rec.answers
    d = DistillationConfig()
    edge = a.peek("deployment") == "edge"
    layers, why = student_layers(rec, evidence, lang)
    labels = inputs.get("label_set")
    names = [x.strip() for x in labels.split(",")] if labels else list(PLACEHOLDER_LABELS)
    pair = [f"  text_pair_column: text_pair  # {c['text_pair_column']}"] if kind == "pairs" else []
    if kind == "ner":
        return _ner_config(rec, lang, inputs, evidence, run_dir)
    lines = [f"# {c['head']}",
             f"run_dir: {_q(run_dir)}  # {c['run_dir']}",
             *([f"task: {kind}  # " + c["task"].format(kind=kind)] if kind != "classification" else []),
             f"data:  # {c['data_section']}",
             f"  path: {_q(inputs.get('data') or PLACEHOLDER_DATA)}  # {c['data'] if inputs.get('data') else c['data_ph']}",
             f"  text_column: text  # {c['text_column']}",
             *pair,
             f"labels: [{', '.join(_q(n) for n in names)}]  # {c['labels_given'] if labels else c['labels']}",
             *_teacher_lines(c, inputs)]
    lines += [f"  calibrate: content-free  # {c['calibrate']}",
              f"student:  # {c['student']}",
              f"  model: null  # {c['student_model']}",
              f"  layers: {layers}  # {c['layers'].format(why=why)}",
              f"training:  # {c['training']}",
              f"  alpha: {d.alpha:g}  # {c['alpha']}",
              f"  temperature: {d.temperature:g}  # {c['temperature']}",
              f"  epochs: {d.epochs:g}  # {c['epochs']}",
              f"gold:  # {c['gold_section']}",
              f"  path: {_q(inputs.get('gold') or PLACEHOLDER_GOLD)}  # {c['gold'] if inputs.get('gold') else c['gold_ph']}",
              f"  text_column: text  # {c['text_column']}",
              *pair,
              f"  label_column: label  # {c['multi_label_column'] if kind == 'multilabel' else c['label_column']}",
              f"export:  # {c['export']}",
              f"  target: {'arm64' if edge else 'auto'}  # " + c["target"].format(
                  why=("arm64: the edge device's CPU" if lang == "en" else "arm64：端侧设备的 CPU") if edge else
                  ("auto: this machine's CPU (avx512_vnni / avx2 / arm64)" if lang == "en" else "auto：本机 CPU（avx512_vnni / avx2 / arm64）")),
              f"bench:  # {c['bench']}",
              f"  enabled: true  # {c['bench_enabled']}"]
    return "\n".join(lines) + "\n"


def _teacher_lines(c: dict, inputs: dict) -> list[str]:
    """The config's teacher section: the user's teacher (and server model), else the embedded default."""
    teacher = inputs.get("teacher")
    lines = [f"teacher:  # {c['teacher']}",
             f"  model: {_q(teacher) if teacher else 'default'}  # {c['teacher_given'] if teacher else c['teacher_default']}"]
    if inputs.get("server_model"):
        lines.append(f"  server_model: {_q(inputs['server_model'])}")
    return lines


def _ner_config(rec: Recommendation, lang: str, inputs: dict, evidence: dict | None, run_dir: str) -> str:
    """The config of an entity task (task: ner): JSON-lines texts to label and gold spans."""
    c = CONFIG_COMMENTS[lang]
    layers, why = student_layers(rec, evidence, lang)
    labels = inputs.get("label_set")
    names = [x.strip() for x in labels.split(",")] if labels else list(PLACEHOLDER_TYPES)
    lines = [f"# {c['head']}",
             f"run_dir: {_q(run_dir)}  # {c['run_dir']}",
             "task: ner  # " + c["task"].format(kind="ner"),
             f"data:  # {c['data_section']}",
             f"  path: {_q(inputs.get('data') or NER_DATA)}  # {c['data'] if inputs.get('data') else c['ner_data']}",
             f"  format: spans  # {c['ner_format']}",
             f"labels: [{', '.join(_q(n) for n in names)}]  # {c['labels_given'] if labels else c['ner_types']}",
             *_teacher_lines(c, inputs)]
    lines += [f"student:  # {c['student']}",
              f"  model: null  # {c['student_model']}",
              f"  layers: {layers}  # {c['layers'].format(why=why)}",
              f"gold:  # {c['gold_section']}",
              f"  path: {_q(inputs.get('gold') or NER_GOLD)}  # {c['gold'] if inputs.get('gold') else c['ner_gold']}",
              f"export:  # {c['export']}",
              "  target: auto  # " + c["target"].format(
                  why="auto: this machine's CPU (avx512_vnni / avx2 / arm64)" if lang == "en" else
                  "auto：本机 CPU（avx512_vnni / avx2 / arm64）")]
    return "\n".join(lines) + "\n"


def _cmd(run: str, comment: str) -> dict:
    return {"kind": "command", "run": run, "comment": comment}


def _ptr(text: str) -> dict:
    return {"kind": "pointer", "text": text}


def _task_pointer(task: str, t: dict) -> dict | None:
    return {"extraction": _ptr(t["p_ner"]), "qa": _ptr(t["p_qa"]), "retrieval": _ptr(t["p_retrieval"]),
            "matching": _ptr(t["p_pair"])}.get(task)


def measure_command(rec: Recommendation) -> str:
    """``advisor recommend`` with the user's given answers, plus --measure (valid CLI syntax)."""
    a, book = rec.answers, rec.answers.book
    parts = ["advisor recommend"]
    for key in book.questions:
        if key in a.given and a.values.get(key) is not None:
            parts.append(book.questions[key].cli_value(a.values[key]))
    return " ".join(parts) + " --measure"


def next_steps(rec: Recommendation, lang: str = "en", inputs: dict | None = None,
               evidence: dict | None = None) -> dict:
    """{"steps": [command | pointer], "files": [{name, content, intro}], "placeholders": [...]}"""
    inputs = inputs or {}
    t = T[lang]
    o, a = rec.outcome, rec.answers
    task = a.values.get("task")
    steps: list[dict] = []
    files: list[dict] = []
    placeholders = []
    language = a.peek("language", "english")
    if not evidence:
        steps.append(_cmd(measure_command(rec), t["measure"]))
    gold = inputs.get("gold") or PLACEHOLDER_GOLD
    labels = inputs.get("label_set") or ",".join(PLACEHOLDER_LABELS)
    trains_classifier = task == "classification" or (task == "reasoning" and o == "distill") or \
        (task == "dialogue" and o == "hybrid" and a.values.get("intent_and_reply"))

    def config_steps(name: str, run_dir: str, kind: str = "classification") -> None:
        files.append({"name": name, "content": distill_config(rec, lang, inputs, evidence, run_dir, kind),
                      "intro": t["save"].format(name=name)})
        steps.append(_cmd(f"advisor distill run {name} --dry-run", t["dry"]))
        steps.append(_cmd(f"advisor distill run {name}", t["run"]))
        ner = kind == "ner"
        if not inputs.get("data"):
            placeholders.append(NER_DATA if ner else PLACEHOLDER_DATA)
        if not inputs.get("gold"):
            placeholders.append(NER_GOLD if ner else PLACEHOLDER_GOLD)
        if not inputs.get("label_set"):
            placeholders.append(f"labels {', '.join(PLACEHOLDER_TYPES if ner else PLACEHOLDER_LABELS)}")

    tags_entities = task == "extraction" and not a.values.get("generative_extraction")
    kind = "multilabel" if task == "classification" and a.peek("multi_label", False) else "classification"
    if o == "distill":
        if trains_classifier:
            config_steps("distill.yaml", "runs/distill", kind)
        elif tags_entities:  # entities tagged as spans: an entity tagger distilled from the teacher's spans
            config_steps("distill.yaml", "runs/entities", CONFIG_KIND[task])
        else:
            steps.append(_ptr(t["p_distill_other"].format(task=a.book.questions["task"].choice_label(task, lang))))
            if _task_pointer(task, t):
                steps.append(_task_pointer(task, t))
    elif o == "bert":
        if a.values.get("existing_bert"):
            steps.append(_ptr(t["p_existing"]))
        elif task == "matching":  # a cross-encoder distilled from the teacher's labels of the pairs
            config_steps("distill.yaml", "runs/pairs", CONFIG_KIND[task])
            steps.append(_task_pointer(task, t))
        elif task == "classification" and kind == "multilabel":  # label sets: the distill config of that kind
            config_steps("distill.yaml", "runs/multilabel", kind)
        elif task == "classification":
            layers, _why = student_layers(rec, evidence, lang)
            steps.append(_cmd(f"advisor gold-labels {gold} --out runs/bert", t["gold"]))
            steps.append(_cmd(f"advisor distill train --labels runs/bert/labels.jsonl --alpha 0 --layers {layers} "
                              f"--out runs/bert", t["train"]))
            steps.append(_cmd("advisor export runs/bert/student --out runs/bert/bundle", t["export"]))
            steps.append(_cmd('advisor predict runs/bert/bundle "an example text"', t["predict"]))
            if not inputs.get("gold"):
                placeholders.append(PLACEHOLDER_GOLD)
        else:
            steps.append(_task_pointer(task, t))
    elif o == "gpt":
        if task in ("classification",):
            teacher = inputs.get("teacher")
            cmd = f"advisor distill label --data {gold} --labels {labels} --label-column label --out runs/llm-check"
            if kind == "multilabel":
                cmd += " --task multilabel"
            if teacher:
                cmd += f" --teacher {teacher}"
                if inputs.get("server_model"):
                    cmd += f" --server-model {inputs['server_model']}"
            steps.append(_cmd(cmd, t["llm_check"]))
            if not inputs.get("gold"):
                placeholders.append(PLACEHOLDER_GOLD)
            if not inputs.get("label_set"):
                placeholders.append(f"labels {', '.join(PLACEHOLDER_LABELS)}")
        elif task in ("extraction", "qa", "retrieval", "matching"):
            steps.append(_ptr(t["p_serve_llm"]))
            steps.append(_task_pointer(task, t))
        else:
            steps.append(_ptr(t["p_serve_llm"]))
        if task in GENERATIVE and a.peek("labeled", 0):
            steps.append(_ptr(t["p_lora"]))
        steps.append(_ptr(t["p_time_server"]))
    elif o == "hybrid":
        if trains_classifier:
            config_steps("distill.yaml", "runs/intent", kind)
        else:
            steps.append(_ptr(t["p_rag_stage"]))
        steps.append(_ptr(t["p_gen_stage"]))
        steps.append(_ptr(t["p_time_server"]))
    else:  # encoder-decoder
        steps.append(_ptr(t["p_seq2seq"]))
    if language != "english" and any(s["kind"] == "command" and (" distill " in s["run"]) for s in steps):
        lang_name = rec.answers.book.questions["language"].choice_label(language, lang)
        steps.append(_ptr(t["p_student_lang"].format(lang=lang_name)))
    return {"steps": [s for s in steps if s], "files": files, "placeholders": list(dict.fromkeys(placeholders)),
            "placeholders_text": t["placeholders"].format(items=", ".join(dict.fromkeys(placeholders))) if placeholders else ""}
