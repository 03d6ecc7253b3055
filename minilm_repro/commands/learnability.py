"""Is every task of the generated benchmark learnable? Majority, bag-of-words, an unpretrained and the smoke teacher."""


def main(argv: list[str]) -> int:
    from minilm_repro.data.synthetic.learnability import main as run

    return run(argv)
