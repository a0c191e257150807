//VERSION=3
// portwatch: Sentinel-1 IW GRD backscatter, VV and VH, for change detection.
//
// Output: one GeoTIFF, FLOAT32, 3 bands: VV, VH, dataMask.
//   VV, VH   sigma0 in linear power (not dB), as Sentinel Hub calibrates it.
//   dataMask 1 where the scene has data, 0 elsewhere; portwatch turns 0 into NaN
//            in VV and VH and drops this band.
//
// Options portwatch sends with this script (input.data[0]; see
// imagery/sources/process.py and docs/sentinelhub.md):
//   dataFilter: acquisitionMode IW, polarization DV (VV+VH), resolution HIGH (10 m GRDH),
//               orbitDirection of the pass, timeRange = the pass +- a few minutes,
//               mosaickingOrder mostRecent (slices of one pass only)
//   processing: backCoeff SIGMA0_ELLIPSOID, orthorectify true, demInstance COPERNICUS_30,
//               speckleFilter {type: NONE} (speckle statistics are the detector's job)
function setup() {
  return {
    input: [{ bands: ["VV", "VH", "dataMask"] }],
    output: { id: "default", bands: 3, sampleType: "FLOAT32" },
    mosaicking: "SIMPLE",
  };
}

function evaluatePixel(sample) {
  return [sample.VV, sample.VH, sample.dataMask];
}
