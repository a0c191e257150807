"""``portwatch demo``: the whole path on bundled simulated scenes, no account, no network."""

from __future__ import annotations

import click


@click.command("demo")
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False), default="demo-output", show_default=True
)
@click.option(
    "--size",
    "size_px",
    type=click.IntRange(128, 4096),
    default=512,
    show_default=True,
    help="Scene size, pixels.",
)
def demo(out_dir: str, size_px: int) -> None:
    """Simulate an S1 pair over Rajin and an S2 pair over Vostochny, detect, summarise."""
    import time

    from imagery.demo import run_demo

    started = time.perf_counter()
    runs = run_demo(
        out_dir, size_px=size_px, progress=lambda msg: click.echo(f"... {msg}", err=True)
    )
    click.echo("")
    click.echo("portwatch demo: what is new since the last pass (simulated scenes, truth known)")
    click.echo("")
    click.echo(
        f"{'port':<26} {'sensor':<7} {'new vessels':>11} {'new cargo':>9} {'departed':>8}   right / truth"
    )
    for run in runs:
        d = run.result.detections
        vessels = int((d["kind"] == "vessel").sum())
        cargo = int((d["kind"] == "cargo").sum())
        v, c = run.scores["vessel"], run.scores["cargo"]
        name = run.aoi_name
        click.echo(
            f"{name:<26} {run.sensor.upper():<7} {vessels:>11} {cargo:>9} {len(run.result.departed):>8}   "
            f"vessels {v.tp}/{v.tp + v.fn}, cargo {c.tp}/{c.tp + c.fn}"
        )
    click.echo("")
    for run in runs:
        click.echo(f"{run.aoi_id} ({run.sensor.upper()}): {run.run_dir}")
        for key, path in run.files.items():
            if key != "run_dir":
                click.echo(f"    {key:<12} {path}")
    click.echo("")
    click.echo(
        "Open a run folder's project.qgs in QGIS (3.22 or newer): flags, change, after and before"
    )
    click.echo(
        "are styled and grouped; mark each flag confirmed or dismissed in its form, and reruns keep"
    )
    click.echo(
        "the marks. report.html is the same run as one offline page. At 10 m a container is smaller"
    )
    click.echo(
        "than a pixel: cargo flags are stack-scale change; vessels are ships of roughly 40 m and more."
    )
    click.echo(f"done in {time.perf_counter() - started:.1f} s")
