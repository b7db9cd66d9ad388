import pytest

from uclaf_plugin.bench.experiments import ablation_specs, compare_specs, sweep_specs
from uclaf_plugin.bench.spec import build_spec


def test_paper_settings_apply_to_aapd_and_overrides_win():
    spec = build_spec("aapd", "uclaf")
    assert (spec.model["lambda_"], spec.model["temperature"], spec.train["lr"]) == (0.7, 5.0, 1e-5)
    assert spec.model["max_length"] == 512 and spec.model["head_kwargs"]["dropout"] == 0.5
    tuned = build_spec("aapd", "uclaf", overrides={"temperature": 0.1, "max_length": 128})
    assert (tuned.model["temperature"], tuned.model["max_length"]) == (0.1, 128)
    assert tuned.key() != spec.key() and build_spec("aapd", "uclaf").key() == spec.key()


def test_one_lr_in_compare_is_the_transformers():
    specs = dict(
        compare_specs(
            "reuters",
            ["linear", "xmlcnn", "attentionxml", "bert", "uclaf"],
            overrides={"lr": 2e-5, "epochs": 2},
        )
    )
    assert specs["linear"].overrides == {} and specs["linear"].model is None
    assert specs["xmlcnn"].train["lr"] == specs["attentionxml"].train["lr"] == 1e-3
    assert specs["bert"].train["lr"] == specs["uclaf"].train["lr"] == 2e-5
    assert all(s.train["epochs"] == 2 for name, s in specs.items() if name != "linear")
    assert "--lr" not in specs["xmlcnn"].command() and "--lr 2e-05" in specs["uclaf"].command()


def test_ablations_and_sweeps_vary_one_thing():
    components = dict(ablation_specs("aapd", overrides={"max_length": 64}))
    heads = {label: (s.model["head"], s.model["contrastive"]) for label, s in components.items()}
    assert list(heads.values()) == [
        ("linear", None),
        ("lan", None),
        ("linear", "per_label"),
        ("lan", "per_label"),
    ]
    positives = [s.model["contrastive"] for _, s in ablation_specs("aapd", positives=["all", "jaccard"])]
    assert positives == ["all", "jaccard"]
    temperatures = [s.model["temperature"] for _, s in sweep_specs("aapd", "temperature", [0.1, 1.0])]
    assert temperatures == [0.1, 1.0]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"method": "bert", "overrides": {"positives": "any"}}, "--contrastive per_label"),
        ({"method": "uclaf", "overrides": {"queue_size": -1}}, "--queue-size"),
        ({"method": "uclaf", "overrides": {"label_init": "random"}}, "--label-init"),
        ({"method": "uclaf", "overrides": {"depth": 3}}, "depth"),
        ({"method": "uclaf", "overrides": {"key_precision": "fp16"}}, "--key-precision"),
        ({"method": "uclaf", "limit_train": 0}, "--limit-train"),
    ],
)
def test_bad_settings_name_the_option(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_spec("synthetic", **kwargs)


def test_overrides_that_repeat_the_preset_keep_the_plain_runs_hash():
    plain = build_spec("aapd", "uclaf", overrides={"max_length": 128})
    per_label = dict(ablation_specs("aapd", positives=["per_label", "any"], overrides={"max_length": 128}))
    preset_lambda = dict(sweep_specs("aapd", "lambda", [0.7, 0.3], overrides={"max_length": 128}))
    assert per_label["per_label"].key() == preset_lambda["lambda=0.7"].key() == plain.key()
    assert per_label["any"].key() != plain.key() and preset_lambda["lambda=0.3"].key() != plain.key()
    # An override is kept when it changes the run, even if it equals the preset's value of another encoder.
    retuned = build_spec("reuters", "uclaf", overrides={"encoder": "xmlcnn", "lr": 5e-5})
    assert retuned.train["lr"] == 5e-5 and "--lr 5e-05" in retuned.command()


def test_a_finished_run_is_found_however_its_overrides_were_written(tmp_path):
    from uclaf_plugin.bench.store import default_run_dir, finished_run
    from uclaf_plugin.files import write_json

    spec = build_spec("reuters", "uclaf", overrides={"epochs": 4})
    assert finished_run(spec, tmp_path) is None
    # A run recorded with the default max length spelt out, as runs made before overrides were normalised are.
    legacy = {**spec.to_dict(), "overrides": {"epochs": 4, "max_length": spec.model["max_length"]}}
    folder = default_run_dir(spec, tmp_path).parent / "seed0-legacy"
    write_json(folder / "config.json", {"spec": legacy})
    write_json(folder / "metrics.json", {"test": {}})
    assert finished_run(spec, tmp_path) == folder
    assert finished_run(build_spec("reuters", "uclaf", overrides={"epochs": 5}), tmp_path) is None


def recorded_runs(dataset: str, method: str) -> list[dict]:
    """The committed records (docs/results/records/) of one method's runs, CPU and GPU."""
    from pathlib import Path

    from uclaf_plugin.bench.records import read_records

    results = Path(__file__).parents[1] / "docs/results"
    files = [results / f"records/{dataset}.jsonl", results / f"gpu/records/{dataset}.jsonl"]
    records = [record for path in files if path.is_file() for record in read_records(path)]
    return [record for record in records if record["folder"].split("/")[1] == method]


@pytest.mark.parametrize(
    ("dataset", "pins"),
    [("aapd", {}), ("goemotions", {"temperature": 0.1}), ("reuters", {"temperature": 0.1})],
)
def test_recorded_runs_are_found_again_by_the_specs_their_commands_build_today(tmp_path, dataset, pins):
    """Version-1 records were written before key_precision, embeddings, LAN scoring and group_by_length
    existed, and (GoEmotions, Reuters) while τ's default was 0.1; read as the current version they are the
    experiments that commands.sh's pinned commands build. Version-2 records carry every setting in their own
    overrides, so their command alone builds them again."""
    from uclaf_plugin.bench.spec import RunSpec, with_data
    from uclaf_plugin.bench.store import finished_run
    from uclaf_plugin.files import write_json

    recorded = recorded_runs(dataset, "uclaf")
    specs = [RunSpec.from_dict(record["spec"]) for record in recorded]
    assert any("key_precision" not in spec.model for spec in specs), (
        "runs recorded before key_precision existed"
    )
    assert any(spec.spec_version == 1 for spec in specs)
    for record, spec in zip(recorded, specs, strict=True):
        # commands.sh pins --key-precision fp32, --lan-scoring paper and --no-group-by-length, what the runs were
        # recorded with; the group-by-length stages add --group-by-length after it (a command alone cannot say
        # which: since grouping became the default, their records' commands do not name it)
        era_pins = pins if spec.spec_version == 1 else {}
        stage_batches = {"group_by_length": spec.train.get("group_by_length", False)}
        rebuilt = build_spec(
            spec.dataset,
            spec.method,
            seed=spec.seed,
            train_split=spec.train_split,
            eval_split=spec.eval_split,
            limit_train=spec.limit_train,
            overrides={
                "key_precision": "fp32",
                "lan_scoring": "paper",
                **stage_batches,
                **era_pins,
                **spec.overrides,
            },
            format=spec.format,
        )
        assert rebuilt.model["key_precision"] == spec.model.get("key_precision", "fp32")
        if spec.data is not None:  # the run fingerprinted the data it read; a run started today would as well
            rebuilt = with_data(rebuilt, spec.data)
        assert rebuilt.key() == spec.key()
        # compare reuses the recorded run folder (its name is a version-1 hash)
        folder = tmp_path / record["folder"]
        write_json(folder / "config.json", {"spec": record["spec"], "command": record["command"]})
        write_json(folder / "metrics.json", record["metrics"])
        assert finished_run(rebuilt, tmp_path) == folder


def test_key_precision_is_part_of_the_experiment():
    default = build_spec("aapd", "uclaf")
    bf16 = build_spec("aapd", "uclaf", overrides={"key_precision": "bf16"})
    fp32 = build_spec("aapd", "uclaf", overrides={"key_precision": "fp32"})
    assert default.model["key_precision"] == "auto"
    assert len({default.key(), bf16.key(), fp32.key()}) == 3
    assert "--key-precision bf16" in bf16.command()


def test_key_precision_changes_nothing_for_a_method_without_a_key_branch():
    from uclaf_plugin.bench.spec import RunSpec

    recorded = recorded_runs("aapd", "bert")
    assert recorded
    for record in recorded:
        spec = RunSpec.from_dict(record["spec"])
        for precision in (None, "fp32", "bf16"):
            rebuilt = build_spec(
                "aapd",
                "bert",
                seed=spec.seed,
                train_split=spec.train_split,
                eval_split=spec.eval_split,
                # the records batched plainly, the default before group_by_length
                overrides={"group_by_length": False, **spec.overrides, "key_precision": precision},
            )
            assert rebuilt.key() == spec.key() and "key_precision" not in rebuilt.overrides


def test_zones_reach_the_spec_of_linear_and_neural_runs_and_change_the_hash():
    plain = build_spec("eurlex57k", "linear")
    titled = build_spec("eurlex57k", "linear", overrides={"zones": "title"})
    assert titled.overrides == {"zones": "title"} and titled.key() != plain.key()
    assert "--zones title" in titled.command()
    assert build_spec("eurlex57k", "xmlcnn", overrides={"zones": "title"}).overrides == {"zones": "title"}


def test_step_options_are_flags_that_reach_the_train_settings_and_the_command_line():
    """--group-by-length (the default) and --amp (opt-in on CPUs) are flags; the recorded command repeats them."""
    import shlex

    from typer.main import get_command

    from uclaf_plugin.cli import app

    default = build_spec("aapd", "uclaf")
    flagged = build_spec("aapd", "uclaf", overrides={"group_by_length": False, "amp": False})
    assert (default.train["group_by_length"], default.train["amp"]) == (True, None)
    assert (flagged.train["group_by_length"], flagged.train["amp"]) == (False, False)
    assert flagged.key() != default.key()
    command = flagged.command()
    assert "--no-group-by-length --no-amp" in command
    run = get_command(app).commands["run"]
    parsed = run.make_context("run", shlex.split(command)[2:]).params
    assert (parsed["group_by_length"], parsed["amp"]) == (False, False)
    assert run.make_context("run", ["--dataset", "aapd", "--method", "uclaf"]).params["amp"] is None
