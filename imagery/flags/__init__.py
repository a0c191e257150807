"""The flags of a pair, stage by stage, for :func:`imagery.detect.detect_aligned`.

- :mod:`imagery.flags.params`: the pair pipeline's parameters (``DetectParams``).
- :mod:`imagery.flags.masks`: where the pair is judged (clouds, shadows, veils, berths).
- :mod:`imagery.flags.evidence`: the change evidence every flag draws on.
- :mod:`imagery.flags.vessels`: new vessels and departures from each date's vessels.
- :mod:`imagery.flags.berths`: ships that moored at or left a quay, from their change.
- :mod:`imagery.flags.cargo`: new cargo stacks on land and quays.
"""
