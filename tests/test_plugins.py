"""Where methods come from: the built-in plug-ins (installed as satbench.baselines, never shadowed by a baselines/
folder of the current directory), a directory in SATBENCH_METHOD_PATH, and the satbench.methods entry points of
installed distributions."""

import json
import subprocess
import sys

import pytest

from satbench.methods import registry  # the module that owns the registry


@pytest.mark.multiprocess
def test_a_baselines_folder_in_the_current_directory_shadows_nothing(tmp_path):
    hostile = tmp_path / "baselines"
    hostile.mkdir()
    (hostile / "__init__.py").write_text("raise SystemExit('the hostile baselines package was imported')\n")
    (hostile / "digest.py").write_text("raise SystemExit('the hostile digest was imported')\n")
    for argv in (["-m", "satbench", "methods", "--json"], ["-c", "import satbench.cli; satbench.cli.main(['methods', '--json'])"]):
        result = subprocess.run([sys.executable, *argv], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        listed = json.loads(result.stdout)
        assert {"exact", "digest", "gas", "sat"} <= set(listed)
        assert listed["digest"]["options"]["sync_period"]["default"] == 10


def test_an_installed_distribution_registers_methods_through_its_entry_point(tmp_path, monkeypatch):
    (tmp_path / "satbench_plugin_example.py").write_text(
        '"""A plug-in distribution\'s method."""\n'
        "from satbench.methods import Method, register_method\n\n\n"
        "@register_method\nclass Example(Method):\n"
        '    """Exact rows, from an installed plug-in."""\n'
        '    name = "entry-point-example"\n\n'
        "    def supply_halo(self, layer, h_inner, partial_halo):\n"
        "        return self.comm.exchange(h_inner)\n")
    info = tmp_path / "satbench_plugin_example-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: satbench-plugin-example\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[satbench.methods]\nexample = satbench_plugin_example\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))  # leave the real registry as it was
    registry._load_entry_points()
    assert registry._REGISTRY["entry-point-example"].summary() == "Exact rows, from an installed plug-in."


def test_a_broken_entry_point_is_one_line_naming_it(tmp_path, monkeypatch):
    info = tmp_path / "broken_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[satbench.methods]\nbroken = no_such_module_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(registry.ConfigError, match="method plug-in 'broken'.*failed to load"):
        registry._load_entry_points()
