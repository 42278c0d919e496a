"""The floor of the house: plumbing every other package may use, and that imports none of them.

Errors (one line, an exit status), atomic writes, offline mode, the bounded YAML reader, number
checks and the range table of every numeric option, run-directory locks and state.
"""
