"""``portwatch batch``: every new pass of every watched port, from the store to review packages."""

from __future__ import annotations

import click


@click.command("batch")
@click.option("--store", type=click.Path(file_okay=False), required=True, help="The imagery store.")
@click.option(
    "--root", "root_dir", type=click.Path(file_okay=False), required=True, help="Results tree."
)
@click.option(
    "--aoi", "aoi_ids", multiple=True, help="AOI id (repeat); default: every port in the store."
)
@click.option(
    "--sensor",
    "sensors",
    multiple=True,
    type=click.Choice(["s1", "s2"]),
    help="Repeatable; default both.",
)
@click.option(
    "--since", type=click.DateTime(formats=["%Y-%m-%d"]), help="Only passes on or after this day."
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="Local dask processes.",
)
@click.option("--scheduler", help="Address of a dask.distributed scheduler (tcp://host:8786).")
@click.option("--force", is_flag=True, help="Rerun pairs whose run folder is up to date.")
@click.option("--no-chips", is_flag=True, help="Skip the before/after PNG chips.")
@click.option("--plan", "plan_only", is_flag=True, help="List the jobs and stop.")
def batch(
    store, root_dir, aoi_ids, sensors, since, workers, scheduler, force, no_chips, plan_only
) -> None:
    """Run detect on every (previous pass, pass) pair in STORE into ROOT/<aoi>/<date>/.

    Sentinel-1 pairs share their relative orbit and direction. Up-to-date run folders
    are skipped; a failed pair does not stop the others; exits 1 if any failed.
    """
    from imagery.batch import plan_jobs, run_batch
    from imagery.store import store_aois

    if not aoi_ids:
        aoi_ids = store_aois(store)
    jobs = plan_jobs(store, aoi_ids, sensors or ("s1", "s2"), since=since.date() if since else None)
    if plan_only:
        for job in jobs:
            click.echo(f"{job.name}: {job.before.name} -> {job.after.name}")
        click.echo(f"{len(jobs)} job(s)")
        return
    report = run_batch(
        jobs,
        root_dir,
        workers=workers,
        scheduler=scheduler,
        force=force,
        chips=not no_chips,
        progress=lambda r: click.echo(f"... {r.status:<7} {r.job.name}", err=True),
    )
    click.echo(report.summary())
    if report.failed:
        raise SystemExit(1)
