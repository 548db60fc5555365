"""The documents' evidence-backed tables, numbers and figures (satbench.report.evidence, `make docs`): every marker
block of README.md and docs/*.md is what its evidence in docs/evidence renders; the marker parser and renderer on a
small fabricated evidence directory."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from runs import REPO
from satbench.errors import ConfigError
from satbench import docs as docs_cli
from satbench.report import evidence
from satbench.workflow import CONTROL_PATH, RUN_PATH, config_records
from test_report import CONTROL, METHODS, make_record, write


# -- the repository's documents ---------------------------------------------------------------------------------------

def test_every_marker_block_of_the_documents_equals_what_its_evidence_renders():
    """`make docs --check`: nothing to rewrite, nothing that cannot be rendered (holds with no marker at all)."""
    problems, changed = evidence.render_documents(REPO, check=True)
    assert not problems and not changed, "\n".join(problems + changed) + "\n(make docs rewrites them)"


def test_every_shipped_evidence_gives_its_tables():
    """Each study's table CSVs are what its Parquet files give with today's table builders."""
    base = REPO / evidence.EVIDENCE_DIR
    for directory in sorted(path for path in base.iterdir() if path.is_dir()) if base.is_dir() else []:
        problems = evidence.verify_evidence(directory)
        assert not problems, ("\n".join(problems) + f"\n(python -m satbench.docs verify --fix "
                                                    f"{directory.name}, then make docs)")


def test_the_data_dictionary_is_what_the_declarations_generate():
    """docs/data.md is generated from the record's and the report's column declarations (and the settings' and the
    built-in methods'): a declaration changed without `make docs` fails here, as `render --check` does."""
    from satbench.report.dictionary import DATA_DICTIONARY, data_dictionary, write_data_dictionary

    assert (REPO / DATA_DICTIONARY).read_text() == data_dictionary(), "docs/data.md differs: run make docs"
    assert not write_data_dictionary(REPO, check=True)


def test_the_shipped_evidence_reads_back_in_todays_shape():
    """Evidence exported before the columns were typed or declared reads back as today's frames: the run's creation a
    UTC time, an option of true and false boolean, the newer summary and environment columns there (missing), one
    epoch row per run and epoch, and a method metric the manifest lists as left out there too."""
    frames = evidence.load_evidence(REPO / evidence.EVIDENCE_DIR / "default")
    runs, epochs = frames.runs, frames.epochs
    assert isinstance(runs["created"].dtype, pd.DatetimeTZDtype) and runs["created"].notna().all()
    assert pd.api.types.is_bool_dtype(runs["option_per_layer"])
    assert {"model_parameters", "cpu_model", "cpu_cores", "accelerator", "final_train"} <= set(runs.columns)
    assert not epochs.duplicated(["record", "epoch"]).any() and len(epochs) == 10160
    assert {"predictor_time_s", "predictor_loss", "wall_time_s"} <= set(epochs.columns)


# -- the parser -------------------------------------------------------------------------------------------------------

DOCUMENT = """# Results

Staleness costs DIGEST <!-- value: demo/decomposition[method=digest,workers=4].staleness_cost_pts_mean fmt=.1f
-->?<!-- /value --> points.
<!-- evidence: demo/claims columns=claim,method,estimate,ci_low,ci_high,p_value,verdict where=method=sat
     decimals=2,p_value:3 -->
stale
<!-- /evidence -->

<!-- figure: demo/staleness file=demo-staleness.png -->
![staleness](figures/demo-staleness.png)

A marker shown as code is none: `<!-- value: demo/x[a=b].c -->` and

```markdown
<!-- evidence: demo/claims -->
<!-- /evidence -->
```

<!-- a comment that is no marker: evidence, value -->
"""


def test_markers_are_parsed_with_their_options_lines_and_spans():
    markers = evidence.parse_markers(DOCUMENT)
    assert [(m.kind, m.reference, m.line) for m in markers] == [
        ("value", "demo/decomposition[method=digest,workers=4].staleness_cost_pts_mean", 3),
        ("evidence", "demo/claims", 5),
        ("figure", "demo/staleness", 10),
    ]
    value, table, figure = markers
    assert value.options == {"fmt": ".1f"} and DOCUMENT[value.body_start:value.body_end] == "?"
    assert table.options == {"columns": "claim,method,estimate,ci_low,ci_high,p_value,verdict", "where": "method=sat",
                             "decimals": "2,p_value:3"}
    assert DOCUMENT[table.body_start:table.body_end] == "\nstale\n"
    assert figure.options == {"file": "demo-staleness.png"} and figure.body_start == figure.body_end
    quoted = evidence.parse_markers("<!-- evidence: demo/claims 'where=claim=C1 staleness' -->x<!-- /evidence -->")
    assert quoted[0].options == {"where": "claim=C1 staleness"}
    assert evidence.parse_markers("no markers here") == []


@pytest.mark.parametrize("text, message", [
    ("<!-- evidence: demo/claims -->\n| a |\n", "line 1: <!-- evidence: ... --> is not closed"),
    ("text\n<!-- /value -->", "line 2: <!-- /value --> closes no"),
    ("<!-- value: demo/t[a=1].b -->1<!-- /evidence -->", "<!-- /evidence --> closes no"),
    ("<!-- evidence: demo/a -->\n<!-- evidence: demo/b -->\n<!-- /evidence -->", "line 1: <!-- evidence: ... --> is "
                                                                                  "not closed by <!-- /evidence --> "
                                                                                  "before line 2"),
    ("<!-- evidence: demo/a colums=a,b -->\n<!-- /evidence -->", "unknown option 'colums=a,b'"),
    ("<!-- figure: -->", "names nothing"),
])
def test_malformed_markers_are_refused_with_their_line(text, message):
    with pytest.raises(evidence.EvidenceError) as caught:
        evidence.parse_markers(text)
    assert message in str(caught.value)


# -- the renderer on fabricated evidence ------------------------------------------------------------------------------

CLAIMS = pd.DataFrame({
    "claim": ["C1 staleness", "C2 accuracy", "C1 staleness"], "method": ["sat", "sat", "rest"],
    "workers": [4, 4, 4], "estimate": [2.345678, -0.5, 1.0], "ci_low": [1.2, -1.75, 0.5],
    "ci_high": [3.4567, 0.25, float("nan")], "p_value": [0.000123, 0.51, 0.04],
    "verdict": ["holds", "inconclusive", "holds"],
})
DECOMPOSITION = pd.DataFrame({"method": ["digest", "digest", "gas"], "workers": [4, 8, 4],
                              "staleness_cost_pts_mean": [3.2149, 5.0, 0.1], "staleness_cost_pts_std": [0.5, 1, 0.2],
                              "n": [3, 3, 3]})


@pytest.fixture
def repository(tmp_path) -> Path:
    """A repository with the evidence of a study ``demo`` (two tables and a manifest, written by hand)."""
    tables = tmp_path / "docs" / "evidence" / "demo" / "tables"
    tables.mkdir(parents=True)
    CLAIMS.to_csv(tables / "claims.csv", index=False)
    DECOMPOSITION.to_csv(tables / "decomposition.csv", index=False)
    (tables.parent / "manifest.json").write_text(json.dumps({"study": "demo", "runs": 171}))
    return tmp_path


def _document(root: Path, text: str, name: str = "docs/results.md") -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_blocks_are_rendered_from_the_evidence_and_checked(repository):
    path = _document(repository, DOCUMENT.replace("![staleness](figures/demo-staleness.png)", "").replace(
        "<!-- figure: demo/staleness file=demo-staleness.png -->", "") + (
        "Runs: <!-- value: demo/manifest.runs -->0<!-- /value -->; gas at W=4: "
        "<!-- value: demo/decomposition[method=gas,workers=4].staleness_cost_pts_mean -->x<!-- /value -->.\n"))
    problems, changed = evidence.render_documents(repository, check=True)
    assert problems == [] and len(changed) == 4
    assert changed[0].startswith("docs/results.md:3: value demo/decomposition[method=digest,workers=4]."
                                 "staleness_cost_pts_mean: '?' -> '3.2'")
    assert changed[1].startswith("docs/results.md:5: evidence demo/claims: differs from its evidence\n    -stale")
    assert path.read_text().count("stale\n") == 1  # --check rewrites nothing

    assert evidence.render_documents(repository) == ([], changed)
    text = path.read_text()
    assert "fmt=.1f\n-->3.2<!-- /value --> points." in text
    assert "Runs: <!-- value: demo/manifest.runs -->171<!-- /value -->; gas at W=4: <!-- value: demo/decomposition" \
           "[method=gas,workers=4].staleness_cost_pts_mean -->0.1000<!-- /value -->." in text
    start = text.index("decimals=2,p_value:3 -->") + len("decimals=2,p_value:3 -->")
    block = text[start:text.index("<!-- /evidence -->", start)]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in block.strip().splitlines()]
    assert rows[0] == ["claim", "method", "estimate", "95% CI", "p (Holm)", "verdict"]
    assert rows[2:] == [["C1 staleness", "sat", "2.35", "[1.20, 3.46]", "0.000", "holds"],
                        ["C2 accuracy", "sat", "-0.50", "[-1.75, 0.25]", "0.510", "inconclusive"]]
    assert block.startswith("\n|") and block.endswith("|\n")
    assert "```markdown\n<!-- evidence: demo/claims -->\n<!-- /evidence -->\n```" in text  # code stays as it was
    assert evidence.render_documents(repository, check=True) == ([], [])  # now in step
    assert docs_cli.main(["render", "--check", "--root", str(repository)]) == 0

    # The evidence changes: --check names the block, the command fails; make docs puts it right.
    DECOMPOSITION.assign(staleness_cost_pts_mean=[4.0, 5.0, 0.1]).to_csv(
        repository / "docs/evidence/demo/tables/decomposition.csv", index=False)
    assert docs_cli.main(["render", "--check", "--root", str(repository)]) == 1
    problems, changed = evidence.render_documents(repository, check=True)
    assert problems == [] and [line.split(":")[1] for line in changed] == ["3"]
    assert docs_cli.main(["render", "--root", str(repository)]) == 0
    assert "-->4.0<!-- /value --> points." in path.read_text()


def test_the_decimals_and_the_ci_interval_of_a_table():
    marker = evidence.parse_markers("<!-- evidence: demo/claims columns=claim,estimate,ci_low,ci_high where=method=rest"
                                    " -->\n<!-- /evidence -->")[0]

    class Only:
        def table(self, study, name):
            return CLAIMS

    rows = evidence.render_table(Only(), marker).strip().splitlines()
    assert [cell.strip() for cell in rows[2].strip("|").split("|")] == ["C1 staleness", "1", "[0.5000, —]"]
    marker.options["decimals"] = "1"
    rows = evidence.render_table(Only(), marker).strip().splitlines()
    assert [cell.strip() for cell in rows[2].strip("|").split("|")] == ["C1 staleness", "1.0", "[0.5, —]"]


@pytest.mark.parametrize("marker, message", [
    ("<!-- value: nope/claims[method=sat].estimate -->1<!-- /value -->",
     "docs/results.md:1: value nope/claims[method=sat].estimate: no evidence directory "),
    ("<!-- evidence: demo/nope -->\n<!-- /evidence -->", "the evidence of demo has no table 'nope' (it has: claims, "
                                                         "decomposition)"),
    ("<!-- value: demo/claims[method=sat].estimate -->1<!-- /value -->", "[method=sat] selects 2 rows, not one"),
    ("<!-- value: 'demo/claims[method=sat,claim=C2 accuracy].estimat' -->1<!-- /value -->", "no column 'estimat'"),
    ("<!-- evidence: demo/claims columns=claim,nope -->\n<!-- /evidence -->", "no column nope (columns: claim, "),
    ("<!-- evidence: demo/claims where=method=lmc -->\n<!-- /evidence -->", "where=method=lmc selects no row"),
    ("<!-- evidence: demo/claims where=metod=sat -->\n<!-- /evidence -->", "no column metod to select rows by"),
    ("<!-- value: demo/manifest.nope -->1<!-- /value -->", "the manifest has no 'nope'"),
    ("<!-- value: 'demo/claims[claim=C2 accuracy].verdict' fmt=.2f -->1<!-- /value -->", "fmt=.2f"),
    ("<!-- value: demo/claims[claim=C2 accuracy].verdict -->1<!-- /value -->", "unknown option 'accuracy].verdict'"),
    ("<!-- figure: demo/nope -->", "no figure 'nope'"),
    ("<!-- evidence: demo/claims -->\n", "not closed by <!-- /evidence -->"),
    ("<!-- value: demo/claims.estimate of=mean -->1<!-- /value -->", "of=mean: write of=min or of=max"),
])
def test_a_marker_that_cannot_be_rendered_is_named_and_fails(repository, marker, message):
    path = _document(repository, marker + "\n")
    problems, changed = evidence.render_documents(repository, check=True)
    assert len(problems) == 1 and message in problems[0], problems
    assert changed == []
    assert evidence.render_documents(repository) == (problems, [])  # the block keeps its content
    assert path.read_text() == marker + "\n"
    assert docs_cli.main(["render", "--check", "--root", str(repository)]) == 1


def test_a_value_may_be_the_smallest_or_largest_of_the_rows_selected(repository):
    """of=min / of=max: the extreme of the selected rows' cells, missing ones aside (a sentence that names a range
    states it from the evidence, not from a row picked by hand)."""
    text = ("<!-- value: demo/claims.estimate of=max fmt=.2f -->x<!-- /value --> "
            "<!-- value: demo/claims[method=sat].estimate of=min fmt=.2f -->x<!-- /value --> "
            "<!-- value: demo/claims.ci_high of=max fmt=.2f -->x<!-- /value -->\n")
    path = _document(repository, text)
    assert evidence.render_documents(repository)[0] == []
    rendered = re.sub(r"<!--.*?-->", "", path.read_text()).split()
    assert rendered == ["2.35", "-0.50", "3.46"]


def test_a_study_without_evidence_says_how_to_make_it(repository, capsys):
    _document(repository, "<!-- evidence: real-graphs/claims -->\n<!-- /evidence -->\n", "README.md")
    assert docs_cli.main(["render", "--check", "--root", str(repository)]) == 1
    error = capsys.readouterr().err
    assert "README.md:1: evidence real-graphs/claims: no evidence directory" in error
    assert "make evidence STUDY=real-graphs CONFIG=config/<its config>.yaml" in error


def test_the_documents_are_the_readme_and_docs(repository):
    for name in ("README.md", "docs/a.md", "docs/b.md", "docs/sub/c.md", "other.md"):
        _document(repository, "x", name)
    assert [path.relative_to(repository).as_posix() for path in evidence.documents(repository)] == [
        "README.md", "docs/a.md", "docs/b.md"]


# -- export from records, figures -------------------------------------------------------------------------------------

CONFIG = """datasets:
  sbm-a: {spec: "sbm:n=2000,classes=6,degree=8,homophily=0.9,features=32,noise=2.0,seed=0"}
models:
  gcn: {hidden: 16, layers: 3}
methods: [exact, digest, sat]
workers: [2]
seeds: [0, 1]
epochs: 20
sync_period: 10
controls: true
timing: {methods: [exact], repeats: 1}
"""


@pytest.fixture
def exported(tmp_path, monkeypatch) -> Path:
    """The records of a small config written where the workflow puts them (exact, digest, SAT and DIGEST's controls,
    W = 2, two seeds; one more under results/timing), exported with `make evidence`'s command."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "demo.yaml").write_text(CONFIG)
    for method in ("exact", "digest", "sat"):
        tests, time, slope, cap, errors, replaced, period = METHODS[method]
        for seed, test in enumerate(tests):
            write(tmp_path, RUN_PATH.format(dataset="sbm-a", model="gcn", method=method, workers=2, seed=seed),
                  make_record("sbm-a", method, 2, seed, test=test, epoch_time=time, val_slope=slope, val_cap=cap,
                              rel_error=errors, replaced=replaced, sync_period=period))
    tests, time, slope, cap, errors, replaced, period = CONTROL
    for seed, test in enumerate(tests):
        write(tmp_path, CONTROL_PATH.format(dataset="sbm-a", model="gcn", method="digest", workers=2, seed=seed),
              make_record("sbm-a", "digest", 2, seed, test=test, epoch_time=time, val_slope=slope, val_cap=cap,
                          rel_error=errors, sync_period=period, halo="fresh"))
    timing = make_record("sbm-a", "exact", 2, 5, test=0.8, epoch_time=0.2, val_slope=0.1, val_cap=0.9)
    timing.update(study="main", labels={"dataset": "sbm-a"})
    write(tmp_path, "results/timing/exact.json", timing)
    write(tmp_path, "results/runs/other/gcn/exact/w2/seed0.json", timing)  # not this config's
    assert docs_cli.main(["export", "demo", "--config", "config/demo.yaml"]) == 0
    return tmp_path


def test_make_evidence_exports_a_configs_records(exported):
    directory = exported / "docs" / "evidence" / "demo"
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["runs"] == 6 + 2 + 1 and manifest["runs_per_study"] == {"control": 2, "main": 7}
    assert manifest["config"] == "config/demo.yaml" and len(manifest["config_sha256"]) == 64
    assert manifest["command"] == "python -m satbench.docs export demo --config config/demo.yaml"
    runs = pd.read_parquet(directory / "runs.parquet")
    assert sorted(runs["record"])[-1] == "results/timing/exact.json" and "other" not in set(runs["dataset"])
    assert {"accuracy.csv", "decomposition.csv", "claims.csv"} <= {p.name for p in (directory / "tables").iterdir()}
    assert evidence.verify_evidence(directory) == []
    # a config without a timing study takes no timing record (another study's would be read as its own)
    (exported / "config" / "untimed.yaml").write_text(CONFIG.replace("timing: {methods: [exact], repeats: 1}\n", ""))
    assert not any("timing" in str(path) for path in config_records("config/untimed.yaml"))
    (exported / "config" / "none.yaml").write_text(CONFIG.replace("sbm-a", "sbm-b"))
    (exported / "results" / "timing" / "exact.json").unlink()
    (exported / "results" / "timing").rmdir()
    with pytest.raises(ConfigError, match=r"no run record of config/none.yaml under results \(8 planned\)"):
        config_records("config/none.yaml")


def test_a_figure_marker_draws_the_figure_from_the_evidence(exported):
    document = _document(exported, "<!-- figure: demo/staleness -->\n![](figures/demo-staleness.png)\n"
                                   "<!-- figure: demo/decomposition file=decomposition.png -->\n")
    problems, changed = evidence.render_documents(exported, check=True)
    assert len(problems) == 2 and "docs/figures/demo-staleness.png does not exist: `make docs` draws it" in problems[0]
    assert evidence.render_documents(exported) == ([], [])
    png = exported / "docs" / "figures" / "demo-staleness.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (exported / "docs/figures/decomposition.png").is_file()
    assert evidence.render_documents(exported, check=True) == ([], [])
    document.write_text("<!-- figure: demo/bandwidth -->\n")  # no bandwidth study among the runs
    problems, _ = evidence.render_documents(exported, check=True)
    assert "the evidence of demo cannot support it: it needs a method and exact run at two or more" in problems[0]


def test_make_docs_and_make_evidence_run_this_module():
    from satbench.cli import build_parser
    from test_packaging import makefile_recipes

    recipes = makefile_recipes()
    assert "venv" in recipes["docs"].split("\n")[0] and "$(BIN)/python -m satbench.docs render" in recipes[
        "docs"]
    assert "venv" in recipes["evidence"].split("\n")[0]
    assert "$(BIN)/python -m satbench.docs export $(STUDY) --config $(CONFIG)" in recipes["evidence"]
    args = build_parser("report").parse_args(["report", "--evidence", "docs/evidence/x", "--evidence-config",
                                              "config/x.yaml", "a.json"])
    assert (str(args.evidence), args.evidence_config) == ("docs/evidence/x", "config/x.yaml")
