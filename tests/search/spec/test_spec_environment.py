"""search.spec.environment_checks: what `validate` and `run` check against this machine (the data
file, aeon's offline names, the GPUs), reported with the parser's problems in one pass."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from search import cli
from search.errors import SpecError
from search.local_gpus import nvidia_device_count, visible_gpus
from search.spec import environment_checks, load_spec
from search.spec.environment_checks import check_environment

ROOT = Path(__file__).resolve().parents[3]


def write(folder: Path, data=None, search=None, ray=None) -> Path:
    spec = {"name": "env", "data": data or {"source": "aeon:GunPoint"}}
    if search is not None:
        spec["search"] = search
    if ray is not None:
        spec["ray"] = ray
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def problems_of(path: Path, **injected) -> tuple[str, ...]:
    checks = functools.partial(check_environment, **injected) if injected else check_environment
    with pytest.raises(SpecError) as caught:
        load_spec(path, checks=checks)
    return caught.value.problems


# -- the data file -----------------------------------------------------------------------------


def test_a_missing_data_file_is_looked_for_in_the_spec_folder(tmp_path):
    spec = write(tmp_path, {"source": "missing.csv", "task": "classification"})
    assert problems_of(spec) == (
        f"data.source: no file missing.csv (looked in {tmp_path}, the spec's folder)",
    )


def test_a_missing_data_file_suggests_a_close_name(tmp_path):
    (tmp_path / "vowels.csv").write_text("a\n1\n")
    spec = write(tmp_path, {"source": "vowel.csv", "task": "classification"})
    assert problems_of(spec) == (
        f"data.source: no file vowel.csv (looked in {tmp_path}, the spec's folder; "
        "did you mean `vowels.csv`?)",
    )


def test_a_missing_absolute_path_is_named_as_written(tmp_path):
    gone = tmp_path / "elsewhere" / "gone.parquet"
    spec = write(tmp_path, {"source": str(gone), "task": "regression"})
    assert problems_of(spec) == (f"data.source: no file {gone}",)


def test_a_folder_is_not_a_data_file(tmp_path):
    (tmp_path / "cases.npz").mkdir()
    spec = write(tmp_path, {"source": "cases.npz", "task": "classification"})
    assert problems_of(spec) == (
        "data.source: cases.npz is a folder; give a .csv, .parquet or .npz file",
    )


def test_an_existing_file_and_the_builtin_series_pass(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.csv").write_text("a\n1\n")
    assert load_spec(
        write(tmp_path, {"source": "sub/d.csv", "task": "regression"}), checks=check_environment
    )
    assert load_spec(write(tmp_path, {"source": "airline"}), checks=check_environment)
    assert load_spec(write(tmp_path, {"source": "adding:T=50"}), checks=check_environment)


def test_without_checks_the_parser_reads_only_the_spec(tmp_path):
    # A spec may be checked on a machine that does not hold its data (the pure parser).
    spec = load_spec(write(tmp_path, {"source": "missing.csv", "task": "classification"}))
    assert spec.data.source == str(tmp_path / "missing.csv")


# -- aeon's offline names ----------------------------------------------------------------------


def test_an_unknown_aeon_name_suggests_the_nearest_offline_one(tmp_path):
    (line,) = problems_of(write(tmp_path, {"source": "aeon:GunPont"}))
    assert line.startswith(
        "data.source: aeon has no classification data set 'GunPont' offline "
        "(did you mean `GunPoint`?); use one of "
    )
    assert "JapaneseVowels" in line and line.endswith(", or your own file")


def test_an_aeon_name_is_checked_against_the_injected_listing(tmp_path):
    names = {"classification": ["Alpha", "Beta"], "regression": ["Gamma"]}
    lines = problems_of(write(tmp_path, {"source": "aeon:Alpah"}), aeon_names=names.get)
    assert lines == (
        "data.source: aeon has no classification data set 'Alpah' offline "
        "(did you mean `Alpha`?); use one of Alpha, Beta, or your own file",
    )
    lines = problems_of(write(tmp_path, {"source": "aeon:Gamma"}), aeon_names=names.get)
    assert lines == ("data.source: aeon:Gamma is a regression data set; set data.task: regression",)


def test_an_aeon_regression_problem_passes_with_its_task(tmp_path):
    spec = write(tmp_path, {"source": "aeon:Covid3Month", "task": "regression"})
    assert load_spec(spec, checks=check_environment).data.task == "regression"


def test_checking_imports_neither_aeon_nor_tensorflow_nor_ray(tmp_path):
    spec = write(tmp_path, {"source": "aeon:GunPont"}, search={"resources_per_trial": {"gpu": 1}})
    code = (
        "import sys\n"
        "from search.spec import load_spec\n"
        "from search.spec.environment_checks import check_environment\n"
        "try:\n"
        f"    load_spec({str(spec)!r}, checks=check_environment)\n"
        "except Exception as error:\n"
        "    assert len(error.problems) == 2, error\n"
        "heavy = [m for m in ('aeon', 'tensorflow', 'ray', 'keras', 'sklearn') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


# -- the CPUs ----------------------------------------------------------------------------------

CPU = "search.resources_per_trial.cpu"


def test_more_cpus_per_trial_than_the_machine_has(tmp_path):
    spec = write(tmp_path, search={"resources_per_trial": {"cpu": 4}})
    assert problems_of(spec, count_cpus=lambda: 2) == (
        f"{CPU}: asks for 4 CPUs per trial, but this machine has 2, so no trial could start; ask "
        "for at most 2, or set ray.address to a cluster with larger nodes",
    )


def test_more_cpus_per_trial_than_ray_num_cpus_gives(tmp_path):
    spec = write(tmp_path, search={"resources_per_trial": {"cpu": 2}}, ray={"num_cpus": 1})
    (line,) = problems_of(spec, count_cpus=lambda: 64)
    assert line.startswith(f"{CPU}: asks for 2 CPUs per trial, but ray.num_cpus gives the local")


@pytest.mark.parametrize(
    ("cpu", "ray"), [(2, None), (0.5, {"num_cpus": 1}), (8, {"address": "auto"})]
)
def test_cpus_that_are_here_or_on_a_cluster_pass(tmp_path, cpu, ray):
    spec = write(tmp_path, search={"resources_per_trial": {"cpu": cpu}}, ray=ray)
    assert load_spec(spec, checks=functools.partial(check_environment, count_cpus=lambda: 2))


def test_validate_counts_this_machines_cpus(tmp_path, capsys):
    spec = write(tmp_path, search={"resources_per_trial": {"cpu": os.cpu_count() + 1}})
    assert cli.main(["validate", str(spec)]) == 2
    assert f"  {CPU}: asks for {os.cpu_count() + 1} CPUs per trial, but this machine has" in (
        capsys.readouterr().err
    )


# -- the GPUs ----------------------------------------------------------------------------------

GPU = "search.resources_per_trial.gpu"


def test_a_gpu_trial_on_a_machine_without_one_is_one_problem(tmp_path):
    spec = write(tmp_path, search={"resources_per_trial": {"gpu": 1}})
    assert problems_of(spec, count_gpus=lambda: 0) == (
        f"{GPU}: asks for 1 GPU per trial, but this machine has no GPU Ray can use; set it to 0, "
        "or set ray.address to a cluster with GPUs",
    )


def test_a_fraction_of_a_gpu_still_needs_one(tmp_path):
    spec = write(tmp_path, search={"resources_per_trial": {"gpu": 0.5}})
    (line,) = problems_of(spec, count_gpus=lambda: 0)
    assert line.startswith(f"{GPU}: asks for 0.5 GPU per trial, but this machine has no GPU")


def test_more_gpus_per_trial_than_the_machine_has(tmp_path):
    spec = write(tmp_path, search={"resources_per_trial": {"gpu": 2}})
    assert problems_of(spec, count_gpus=lambda: 1) == (
        f"{GPU}: asks for 2 GPUs per trial, but this machine has 1; ask for at most 1, or set "
        "ray.address to a cluster with larger GPU nodes",
    )


@pytest.mark.parametrize("gpus", [1, 2, None])
def test_gpus_that_are_here_or_cannot_be_counted_pass(tmp_path, gpus):
    spec = write(tmp_path, search={"resources_per_trial": {"gpu": 1}})
    assert load_spec(spec, checks=functools.partial(check_environment, count_gpus=lambda: gpus))


@pytest.mark.parametrize("address", ["ray://head:10001", "head:6379", "auto"])
def test_a_cluster_address_is_not_checked_here(tmp_path, address):
    def refuse():
        raise AssertionError("counted this machine's GPUs for a cluster")

    spec = write(tmp_path, search={"resources_per_trial": {"gpu": 1}}, ray={"address": address})
    assert load_spec(spec, checks=functools.partial(check_environment, count_gpus=refuse))


def test_cuda_visible_devices_caps_the_count_as_ray_does(monkeypatch):
    monkeypatch.setattr("search.local_gpus.nvidia_device_count", lambda: 4)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,2")
    assert visible_gpus() == 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() in (0, None)  # None where an AMD or Apple GPU may still count
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert visible_gpus() == 4


def test_this_machine_counts_what_nvidia_smi_lists():
    smi = shutil.which("nvidia-smi")
    listed = 0
    if smi:
        done = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=60)
        listed = done.stdout.count("GPU ") if done.returncode == 0 else 0
    assert nvidia_device_count() == listed


@pytest.mark.skipif(nvidia_device_count() > 0, reason="this machine has an NVIDIA GPU")
def test_validate_on_this_machine_without_a_gpu(tmp_path, capsys):
    # The real detection, no fakes: this machine has no GPU (the CI machine neither).
    spec = write(tmp_path, search={"resources_per_trial": {"gpu": 1}})
    if visible_gpus() is None:
        pytest.skip("an AMD or Apple GPU may be here; the check does not refuse")
    assert cli.main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert f"  {GPU}: asks for 1 GPU per trial, but this machine has no GPU Ray can use" in err


def test_run_refuses_a_gpu_spec_before_ray_starts(tmp_path, capsys, monkeypatch):
    import search.tune

    def refuse(*args, **kwargs):
        raise AssertionError("Ray started for a spec this machine cannot run")

    monkeypatch.setattr(search.tune, "start_ray", refuse)
    monkeypatch.setattr(environment_checks, "visible_gpus", lambda: 0)
    spec = write(tmp_path, search={"resources_per_trial": {"gpu": 1}})
    assert cli.main(["run", str(spec), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {spec} has 1 problem:\n  {GPU}: asks for 1 GPU")
    assert not (tmp_path / "results").exists()


# -- one pass ----------------------------------------------------------------------------------


def test_every_problem_of_the_issue_is_reported_in_one_pass(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(environment_checks, "visible_gpus", lambda: 0)
    spec = write(
        tmp_path,
        {"source": "missing.csv", "task": "classification"},
        search={
            "max_trials": 3,
            "ensemble": 10,
            "objective": {"metric": "val_acc", "mode": "maxx"},
            "resources_per_trial": {"gpu": 1},
        },
    )
    assert cli.main(["validate", str(spec)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"error: {spec} has 5 problems:"
    fields = [line.split(":")[0].strip() for line in lines[1:]]
    assert sorted(fields) == sorted(
        [
            "search.objective.mode",
            "search.objective.metric",
            "search.ensemble",
            "data.source",
            GPU,
        ]
    )
