"""Language choice (en / zh) and the few interface strings that are not in the rules file."""

from __future__ import annotations

import os

STRINGS = {
    "en": {
        "recommendation": "Recommendation",
        "path": "Path taken",
        "source": "source",
        "models": "Models to consider",
        "tradeoffs": "Trade-offs",
        "conflicts": "Conflicts in your answers",
        "notes": "Notes",
        "change": "What would change the answer",
        "change_line": "{flag} {to} (now {frm}) -> {outcome}",
        "assumed": "Assumed defaults (not asked)",
        "next": "Next",
        "none": "none",
        "yes_no": "yes/no",
    },
    "zh": {
        "recommendation": "推荐方案",
        "path": "决策路径",
        "source": "出处",
        "models": "可考虑的模型",
        "tradeoffs": "权衡",
        "conflicts": "回答中的冲突",
        "notes": "提示",
        "change": "哪些回答会改变结论",
        "change_line": "{flag} {to}（当前 {frm}）-> {outcome}",
        "assumed": "采用的默认值（未询问）",
        "next": "下一步",
        "none": "无",
        "yes_no": "是/否",
    },
}


def detect_lang() -> str:
    """Follow the locale: zh when LC_ALL / LC_MESSAGES / LANG / LANGUAGE says Chinese, else en."""
    for var in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        value = os.environ.get(var, "")
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def t(lang: str, key: str, **kw) -> str:
    text = STRINGS.get(lang, STRINGS["en"])[key]
    return text.format(**kw) if kw else text
