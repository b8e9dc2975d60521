"""plugin_of: the plugin of a config file, by its suffix."""

import pytest

from dff_common.plugins import plugin_of


def test_yaml_is_detectron2_and_python_is_mmseg():
    assert plugin_of("configs/a.yaml") == plugin_of("b.YML") == "dff_detectron2"
    assert plugin_of("configs/dff_mmseg/c.py") == "dff_mmseg"


def test_another_suffix_is_refused_naming_the_file():
    with pytest.raises(ValueError, match=r"cannot tell the framework of model\.json: expected"):
        plugin_of("model.json")
