"""Group names: built and read in one place, classes ordered by label (class10 after class9)."""

from dpharm.data.groups import ALL, class_label, classes, group_name, head, tail


def test_names_round_trip_and_classes_sort_by_label():
    assert (group_name(1), group_name(1, 1), head(), tail(3)) == ("class1", "class1/tail", "class0/head", "class3/tail")
    assert [class_label(n) for n in ("class7", "class12", "class0/tail", ALL)] == [7, 12, None, None]
    names = [ALL, "class10", "class2", "class2/head", "class9", "class2"]
    assert classes(names) == ["class2", "class9", "class10"]


def test_source_labels_follow_the_class_order_and_the_tail_source():
    from dpharm.data.groups import source_labels

    assert source_labels([7, 0, 8], None) == {"class0": 7, "class1": 0, "class2": 8}
    # footwear = Sneaker (7) with a tail of Sandal (5): the whole class 0 mixes two labels
    assert source_labels([7, 0], 5) == {"class0/head": 7, "class0/tail": 5, "class1": 0, "class1/head": 0}
