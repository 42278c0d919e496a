"""The teacher labels a pool: prompt selection, the quality gate, the answer cache and the teacher report."""
