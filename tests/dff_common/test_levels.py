"""dff_common.levels: walking one feature map or the levels of multi-scale features."""

import torch

from dff_common.levels import feature_maps, map_levels


def test_map_levels_keeps_structure_and_other_leaves():
    value = {"a": [torch.ones(1), (torch.zeros(2), "text")], "b": 3, "c": None}
    out = map_levels(lambda t: t + 1, value)
    assert isinstance(out["a"], list) and isinstance(out["a"][1], tuple)
    assert torch.equal(out["a"][0], torch.full((1,), 2.0))
    assert torch.equal(out["a"][1][0], torch.ones(2)) and out["a"][1][1] == "text"
    assert out["b"] == 3 and out["c"] is None


def test_map_levels_pairs_matching_tensors_of_several_trees():
    a = (torch.ones(2, 1), None, {"p3": torch.zeros(1, 1)})
    b = (torch.full((1, 1), 5.0), None, {"p3": torch.ones(2, 1)})
    out = map_levels(lambda x, y: torch.cat([x, y]), a, b)
    assert out[0].tolist() == [[1.0], [1.0], [5.0]] and out[1] is None
    assert out[2]["p3"].tolist() == [[0.0], [1.0], [1.0]]


def test_feature_maps_lists_the_tensors_in_order():
    x, y, z = torch.zeros(1), torch.ones(1), torch.full((1,), 2.0)
    assert feature_maps(x) == [x]
    assert feature_maps((x, None, [y])) == [x, y]
    assert feature_maps({"p2": x, "p3": None, "p4": z}) == [x, z]
    assert feature_maps(None) == []
