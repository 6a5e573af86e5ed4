"""Group names: built and read in one place, classes ordered by label (class10 after class9)."""

from dpharm.groups import ALL, class_label, classes, group_name, head, tail


def test_names_round_trip_and_classes_sort_by_label():
    assert (group_name(1), group_name(1, 1), head(), tail(3)) == ("class1", "class1/tail", "class0/head", "class3/tail")
    assert [class_label(n) for n in ("class7", "class12", "class0/tail", ALL)] == [7, 12, None, None]
    names = [ALL, "class10", "class2", "class2/head", "class9", "class2"]
    assert classes(names) == ["class2", "class9", "class10"]
