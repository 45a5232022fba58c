"""Analyses of committed runs that test USCD's premise directly (issue #15, `uscd analyze`).

    run folder (greedy, results.jsonl) -> oracle (one failing program: re-decode, flip, execute)
    -> DIR/premise/oracle.jsonl (one line per problem, resumable) -> stats -> DIR/premise/summary.json

`recorder` records every step of the re-decoded greedy program, `oracle` runs the single-flip
oracle on one problem, `stats` holds the pure statistics, `study` drives a whole run folder.
"""
