"""``portwatch coregister REFERENCE MOVING --out OUT.tif``: align one scene onto another."""

from __future__ import annotations

import json

import click

from imagery.cli.guards import check_output, refuse_overwriting
from imagery.coregister import coregister_files


@click.command("coregister")
@click.argument("reference", type=click.Path())
@click.argument("moving", type=click.Path())
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False),
    help="Aligned moving scene, a COG on the reference grid.",
)
@click.option(
    "--sensor",
    type=click.Choice(["s1", "s2"]),
    help="Sentinel-1 or -2 (default: the files' SENSOR tag).",
)
@click.option(
    "--model",
    type=click.Choice(["auto", "translation", "affine"]),
    default="auto",
    show_default=True,
    help="Correction model; auto picks affine only when the data support it.",
)
@click.option(
    "--max-shift-px",
    type=float,
    default=5.0,
    show_default=True,
    help="Refuse shifts larger than this.",
)
@click.option(
    "--window-px", type=int, default=128, show_default=True, help="Correlation window size."
)
@click.option(
    "--resampling",
    type=click.Choice(["nearest", "bilinear", "cubic", "cubic_spline", "lanczos"]),
    default="bilinear",
    show_default=True,
    help="Resampling of the aligned output (SCL is always nearest).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def coregister(
    reference: str,
    moving: str,
    out: str,
    sensor: str | None,
    model: str,
    max_shift_px: float,
    window_px: int,
    resampling: str,
    as_json: bool,
) -> None:
    """Estimate how MOVING is displaced from REFERENCE, and write it aligned to --out.

    Prints the shift at the reference centre (x east, y down in pixels; east, north in
    metres), the model, the residual RMSE of the tie points and a 0-1 confidence.
    Refuses (exit status 1) when a scene lacks the sensor's bands, or the scenes barely
    overlap, are clouded out, do not correlate, or are shifted by more than
    --max-shift-px; nothing is written then.
    """
    check_output(out, is_file=True)
    refuse_overwriting([reference, moving], [out])
    reg = coregister_files(
        reference,
        moving,
        out,
        sensor=sensor,
        model=model,
        max_shift_px=max_shift_px,
        window_px=window_px,
        resampling=resampling,
        window_option="--window-px",
    )
    if as_json:
        click.echo(json.dumps({**reg.to_dict(), "out": out}, indent=2))
        return
    click.echo(
        f"shift      : x {reg.shift_x_px:+.3f} px ({reg.shift_x_m:+.2f} m east), "
        f"y {reg.shift_y_px:+.3f} px ({reg.shift_y_m:+.2f} m north)"
    )
    extra = ""
    if reg.model == "affine":
        extra = f" (rotation {reg.rotation_deg:+.4f} deg, scale {reg.scale:.5f})"
    click.echo(f"model      : {reg.model}{extra}")
    click.echo(
        f"residual   : RMSE {reg.rmse_px:.3f} px, {reg.n_used} of {reg.n_windows} windows used "
        f"({reg.n_valid} valid, {reg.n_correlated} correlated)"
    )
    click.echo(f"confidence : {reg.confidence:.2f}")
    click.echo(f"wrote      : {out}")
