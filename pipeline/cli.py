"""The ``ccr`` command line: a thin shell over one library call per command.

Exit codes: 0 success, 1 bad input (unreadable DICOM, malformed clinical form or config),
2 processing failure (a stage failed on input that looked valid).
Research use only, not a medical device.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from pipeline import RESEARCH_USE_STATEMENT, __version__
from pipeline.batch._cli import batch_command
from pipeline.device import DeviceChoice
from pipeline.errors import InputError, PipelineError
from pipeline.evaluate._cli import evaluate_command

EXIT_OK = 0
EXIT_BAD_INPUT = 1
EXIT_PROCESSING = 2

app = typer.Typer(
    name="ccr",
    help=(
        "ccr-pipeline: MRI response assessment of rectal cancer after neoadjuvant therapy.\n\n"
        "Reads restaging (and baseline) MRI as DICOM, registers DWI to T2W, computes ADC and "
        "high-b maps, scores the tumour bed, merges DRE and endoscopy findings and states "
        "whether the criteria of a clinical complete response (cCR) are met.\n\n"
        f"{RESEARCH_USE_STATEMENT}\n\n"
        "Exit codes: 0 ok, 1 bad input, 2 processing failure."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _configure_logging(verbose: int) -> None:
    from rich.logging import RichHandler

    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = RichHandler(show_path=False, rich_tracebacks=False, markup=False)
    handler.setLevel(level)  # filters every logger, including third-party children
    root = logging.getLogger()
    # replace our own handler from an earlier call (in-process use), keep anyone else's
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, RichHandler)] + [handler]
    root.setLevel(level)
    logging.getLogger("pipeline").setLevel(level)


def _tame_radiomics(verbose: int) -> None:
    """pyradiomics installs its own stderr handler at import; route it through ours instead
    (its notes about bin counts are expected here and shown only with -vv)."""
    import radiomics  # noqa: F401  (import first, so that its handler exists to remove)

    chatty = logging.getLogger("radiomics")
    chatty.handlers.clear()
    chatty.propagate = True
    chatty.setLevel(logging.ERROR if verbose < 2 else logging.DEBUG)


def _fail(exc: PipelineError) -> typer.Exit:
    from rich.console import Console
    from rich.markup import escape

    code = EXIT_BAD_INPUT if isinstance(exc, InputError) else EXIT_PROCESSING
    Console(stderr=True, soft_wrap=True).print(
        f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False
    )
    return typer.Exit(code)


def _require(path: Path | None, *, folder: bool, what: str) -> None:
    """Bad paths are bad input (exit 1), with the path named."""
    if path is None:
        return
    if not path.exists():
        raise InputError(f"{what}: {path} does not exist")
    if folder and not path.is_dir():
        raise InputError(f"{what}: {path} is not a folder")
    if not folder and not path.is_file():
        raise InputError(f"{what}: {path} is not a file")


@contextmanager
def _progress(description: str, total: int | None) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar; yields the ``progress(done, total)`` callback library calls take."""
    from rich.progress import Progress

    with Progress() as bar:
        task = bar.add_task(description, total=total)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"ccr-pipeline {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """ccr-pipeline command line."""


Verbose = Annotated[
    int, typer.Option("--verbose", "-v", count=True, help="More log output (-v info, -vv debug).")
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="YAML file overriding shipped defaults, with section names as top-level "
        "keys (registration, diffusion, scoring, decision, series_rules).",
    ),
]


@app.command()
def phantom(
    out: Annotated[Path, typer.Argument(help="Folder to write the cases into.")],
    cases: Annotated[int, typer.Option(min=1, help="Number of patients to generate.")] = 6,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same data.")] = 0,
    small: Annotated[bool, typer.Option(help="Smaller field of view and fewer slices.")] = False,
    verbose: Verbose = 0,
) -> None:
    """Write synthetic rectal restaging MRI patients (DICOM) with known truth.

    Each case gets OUT/<case>/restaging/ and baseline/ (DICOM), clinical.yaml and truth.json.
    Case types cycle through complete response, near-complete, residual tumour, submucosal
    residual, fibrosis with oedema, T2 shine-through, suspicious node, and missing or
    contradictory clinical inputs. Patient names and IDs are made up.
    """

    from pipeline.phantom import PhantomOptions, generate_cohort

    _configure_logging(verbose)
    with _progress("generating phantoms", cases) as advance:
        written = generate_cohort(
            out, cases=cases, seed=seed, options=PhantomOptions(small=small), progress=advance
        )
    typer.echo(f"wrote {len(written)} cases to {out}")


@app.command()
def inspect(
    path: Annotated[Path, typer.Argument(help="A DICOM tree (any layout) or a NIfTI data set.")],
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the inventory as JSON here.")
    ] = None,
    config: ConfigOpt = None,
    verbose: Verbose = 0,
) -> None:
    """List studies and series: role (and why), b-values, size, spacing, orientation, vendor.

    Reads headers only. Studies are named by de-identified keys; no patient identifier is
    printed. The JSON has `studies`, each with `key` and `series` (series_number,
    series_description, role, b_values, size, spacing, n_files, warnings, ...).
    """
    from rich.console import Console

    from pipeline._io import write_json
    from pipeline.config import load_config
    from pipeline.ingest import inventory_to_dict, render_inventory, scan

    _configure_logging(verbose)
    try:
        _require(path, folder=True, what="inspect")
        _require(config, folder=False, what="--config")
        inventory = scan(path, rules=load_config(config).series_rules)
    except PipelineError as exc:
        raise _fail(exc) from exc
    Console().print(render_inventory(inventory))
    if json_out is not None:
        write_json(json_out, inventory_to_dict(inventory))
        typer.echo(f"inventory written to {json_out}")


@app.command()
def convert(
    path: Annotated[Path, typer.Argument(help="A DICOM tree (any layout) or a NIfTI data set.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")],
    config: ConfigOpt = None,
    verbose: Verbose = 0,
) -> None:
    """Write one NIfTI per series (+ .bval for DWI, + a JSON sidecar) and masks as NIfTI.

    Files are OUT/<study key>/<series_number>_<role>.nii.gz and
    OUT/<study key>/<series_number>_mask_<roi name>.nii.gz; keys are de-identified.
    A bad series is reported and the others are still converted (exit 2 if any failed).
    """
    from rich.progress import Progress

    from pipeline.config import load_config
    from pipeline.ingest import convert_tree

    _configure_logging(verbose)
    try:
        _require(path, folder=True, what="convert")
        _require(config, folder=False, what="--config")
        rules = load_config(config).series_rules
        with Progress() as progress:
            task = progress.add_task("converting series", total=None)

            def advance(done: int, total: int, label: str) -> None:
                progress.update(task, completed=done, total=total, description=label)

            report = convert_tree(path, out, rules=rules, progress=advance)
    except PipelineError as exc:
        raise _fail(exc) from exc
    typer.echo(f"wrote {len(report.written)} files to {out}")
    for failure in report.failures:
        typer.echo(f"failed: {failure}", err=True)
    if not report.ok:
        raise typer.Exit(EXIT_PROCESSING)


@app.command()
def run(
    study_dir: Annotated[
        Path,
        typer.Argument(help="Folder with the restaging MRI study (DICOM, or a NIfTI layout)."),
    ],
    clinical: Annotated[
        Path | None,
        typer.Option(
            "--clinical",
            help="Clinical findings (YAML/JSON): DRE, endoscopy, biopsy, nodes, ... "
            "Without it the decision is 'indeterminate'.",
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("ccr-out"),
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline",
            help="Baseline (pre-treatment) study; its tumour mask is carried onto the "
            "restaging scan when the restaging study has no tumour-bed mask.",
        ),
    ] = None,
    device: Annotated[
        DeviceChoice, typer.Option(help="Compute device; auto uses CUDA when PyTorch sees it.")
    ] = DeviceChoice.AUTO,
    config: ConfigOpt = None,
    keep_identifiers: Annotated[
        bool,
        typer.Option(
            "--keep-identifiers",
            help="Copy the source's patient module into the DICOM outputs. Default: "
            "pseudonymised (the study key replaces name and ID).",
        ),
    ] = False,
    dwi_grid: Annotated[
        bool,
        typer.Option("--dwi-grid", help="Also write ADC and high-b on the native DWI grid."),
    ] = False,
    verbose: Verbose = 0,
) -> None:
    """Assess one restaging study and write OUT/decision.json, report.html and maps.

    decision.json states cCR, near_cCR, incomplete or indeterminate with every criterion and
    its evidence. Research use only, not a medical device.
    """
    from pipeline.config import load_config
    from pipeline.device import resolve_device
    from pipeline.run import run_study

    _configure_logging(verbose)
    _tame_radiomics(verbose)
    try:
        _require(study_dir, folder=True, what="restaging study")
        _require(baseline, folder=True, what="--baseline")
        _require(clinical, folder=False, what="--clinical")
        _require(config, folder=False, what="--config")
        result = run_study(
            study_dir,
            clinical_path=clinical,
            out_dir=out,
            config=load_config(config),
            baseline_dir=baseline,
            device=resolve_device(device),
            keep_identifiers=keep_identifiers,
            dwi_grid=dwi_grid,
        )
    except PipelineError as exc:
        raise _fail(exc) from exc
    typer.echo(f"decision: {result.decision['decision']}  (written to {out / 'decision.json'})")
    if result.error is not None:
        raise typer.Exit(EXIT_BAD_INPUT)


app.command("batch")(batch_command)

train_app = typer.Typer(
    help="Train the scorers on phantom cohorts (generated on the fly) or on your labelled data.",
    no_args_is_help=True,
)
app.add_typer(train_app, name="train")

OutDirArg = Annotated[
    Path,
    typer.Argument(
        help="Folder that receives the model files, training metrics and (for phantoms) the "
        "case cache."
    ),
]
CacheOpt = Annotated[
    Path | None,
    typer.Option(
        "--cache",
        help="Reuse cached training cases from this folder (filled with a phantom cohort when "
        "empty).",
    ),
]
LabelledOpt = Annotated[
    Path | None,
    typer.Option(
        "--labelled",
        help="Your labelled data: labels.csv (case_id,residual_tumour[,case_type]) and one "
        "folder per case with t2w, adc, high_b, bed and tumour .nii.gz on the restaging T2W "
        "grid. Without it, phantoms are generated.",
    ),
]
CasesOpt = Annotated[
    int, typer.Option(min=4, help="Phantom cases to generate when no data is given.")
]
SeedOpt = Annotated[int, typer.Option(help="Seed of the phantom cohort, split and augmentation.")]
WorkersOpt = Annotated[
    int, typer.Option(min=1, help="Processes that generate and analyse phantom cases.")
]


@train_app.command("radiomics")
def train_radiomics_command(
    out_dir: OutDirArg,
    cache: CacheOpt = None,
    labelled: LabelledOpt = None,
    cases: CasesOpt = 216,
    seed: SeedOpt = 1001,
    workers: WorkersOpt = 2,
    regularisation: Annotated[
        float, typer.Option(min=1e-6, help="Inverse L2 strength of the logistic regression.")
    ] = 0.1,
    verbose: Verbose = 0,
) -> None:
    """Train the radiomics classifier (pyradiomics features -> P(residual tumour))."""
    from pipeline.training import train_radiomics

    _configure_logging(verbose)
    _tame_radiomics(verbose)
    try:
        with _progress("preparing cases", None) as advance:
            written = train_radiomics(
                out_dir,
                cache=cache,
                labelled=labelled,
                cases=cases,
                seed=seed,
                workers=workers,
                regularisation=regularisation,
                progress=advance,
            )
    except PipelineError as exc:
        raise _fail(exc) from exc
    typer.echo(f"model written to {written}")


@train_app.command("model")
def train_model_command(
    out_dir: OutDirArg,
    cache: CacheOpt = None,
    labelled: LabelledOpt = None,
    cases: CasesOpt = 216,
    seed: SeedOpt = 1001,
    workers: WorkersOpt = 2,
    device: Annotated[DeviceChoice, typer.Option(help="Training device.")] = DeviceChoice.AUTO,
    epochs: Annotated[int, typer.Option(min=1, help="Most epochs.")] = 80,
    patience: Annotated[
        int, typer.Option(min=1, help="Epochs without a lower validation loss before stopping.")
    ] = 15,
    batch_size: Annotated[int, typer.Option(min=1, help="Batch size.")] = 8,
    learning_rate: Annotated[float, typer.Option(min=1e-7, help="Adam learning rate.")] = 2e-3,
    val_fraction: Annotated[
        float, typer.Option(min=0.05, max=0.5, help="Fraction of cases held out for validation.")
    ] = 0.2,
    start_from: Annotated[
        Path | None,
        typer.Option(
            "--start-from",
            help="Weights card to fine-tune instead of starting from random weights, e.g. "
            "models/segnet-v2.json (use a lower --learning-rate such as 5e-4).",
        ),
    ] = None,
    verbose: Verbose = 0,
) -> None:
    """Train the MONAI network (T2W, high-b, ADC -> voxel maps of tumour bed and residual
    tumour)."""
    from pipeline.device import resolve_device
    from pipeline.training import train_network

    _configure_logging(verbose)
    _tame_radiomics(verbose)
    try:
        with _progress("training", epochs) as advance:
            written = train_network(
                out_dir,
                cache=cache,
                labelled=labelled,
                cases=cases,
                seed=seed,
                workers=workers,
                device=resolve_device(device),
                max_epochs=epochs,
                patience=patience,
                batch_size=batch_size,
                learning_rate=learning_rate,
                val_fraction=val_fraction,
                start_from=start_from,
                progress=advance,
            )
    except PipelineError as exc:
        raise _fail(exc) from exc
    typer.echo(f"model written to {written}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Output folder for the demo runs.")] = Path(
        "ccr-demo-output"
    ),
    verbose: Verbose = 0,
) -> None:
    """Run the pipeline on the shipped sample patients and compare with their known truth."""
    from rich.console import Console

    from pipeline.demo import render_demo_table, run_demo

    _configure_logging(verbose)
    _tame_radiomics(verbose)
    try:
        rows = run_demo(out)
    except PipelineError as exc:
        raise _fail(exc) from exc
    console = Console()
    console.print(render_demo_table(rows))
    agree = sum(row.agrees for row in rows)
    console.print(
        f"{agree}/{len(rows)} decisions agree with the phantom truth. Outputs in {out}/.",
        soft_wrap=True,
    )
    console.print(RESEARCH_USE_STATEMENT, soft_wrap=True)


app.command("evaluate")(evaluate_command)


if __name__ == "__main__":  # pragma: no cover
    app()
