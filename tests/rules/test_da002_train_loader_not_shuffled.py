from rules.ruletest import apply_fix, assert_clean, assert_flagged

WRONG = """
from torch.utils.data import DataLoader
train_loader = DataLoader(train_set, batch_size=64)  # <-
"""


def test_training_loader_without_shuffle_is_flagged():
    assert_flagged(WRONG, "DA002", "train_set")


def test_shuffle_sampler_and_eval_loaders_are_clean():
    assert_clean(WRONG.replace("batch_size=64)  # <-", "batch_size=64, shuffle=True)"), "DA002")
    assert_clean(WRONG.replace("batch_size=64)  # <-", "sampler=sampler)"), "DA002")
    assert_clean("test_loader = DataLoader(test_set, batch_size=64)\n", "DA002")


def test_fix_adds_shuffle():
    assert "DataLoader(train_set, batch_size=64, shuffle=True)" in apply_fix(WRONG, "DA002", safe_only=True)


def test_iterable_dataset_is_clean():
    assert_clean("""
    from torch.utils.data import DataLoader
    train_ds = load_dataset("c4", split="train", streaming=True)
    train_loader = DataLoader(train_ds, batch_size=8)
    """, "DA002")
