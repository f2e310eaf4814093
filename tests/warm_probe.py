"""The grader that tests/test_batch.py forks from a batch's zygote: it reports what it found
computed there, after a parallel torch op (which hangs in a process forked after the zygote ran a
parallel region of its own)."""
import json


def main(argv: list[str]) -> int:
    import torch
    from tmlkit.public import hw1
    x = torch.ones(600, 600, dtype=torch.float64)
    total = float((x @ x).sum())
    print(json.dumps({"attack_models": hw1.attack_model.cache_info().currsize,
                      "threads": torch.get_num_threads(), "total": total}))
    return 0
