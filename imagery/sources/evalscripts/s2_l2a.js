//VERSION=3
// portwatch: Sentinel-2 L2A surface reflectance at 10 m, plus the scene classification.
//
// Output: one GeoTIFF, UINT16, 7 bands: B02, B03, B04, B08, B11, SCL, dataMask.
//   B02 B03 B04 B08  reflectance x 10000 (digital numbers), harmonised to the
//                    pre-2022 scale (Sentinel Hub's default harmonizeValues=true,
//                    i.e. no BOA_ADD_OFFSET left in the values)
//   B11              the same for SWIR 1.6 um (20 m, nearest neighbour): water
//                    absorbs it, so it tells a hull from a shoal or a plume
//   SCL              scene classification codes 0-11 (20 m, nearest neighbour)
//   dataMask         1 where the scene has data; portwatch sets every band to 0
//                    (the nodata value) where it is 0 and drops this band.
//
// Options portwatch sends with this script (input.data[0]):
//   dataFilter: timeRange = the pass +- a few minutes, mosaickingOrder mostRecent,
//               maxCloudCoverage when --max-cloud is given
function setup() {
  return {
    input: [{ bands: ["B02", "B03", "B04", "B08", "B11", "SCL", "dataMask"] }],
    output: { id: "default", bands: 7, sampleType: "UINT16" },
    mosaicking: "SIMPLE",
  };
}

function evaluatePixel(sample) {
  return [
    10000 * sample.B02,
    10000 * sample.B03,
    10000 * sample.B04,
    10000 * sample.B08,
    10000 * sample.B11,
    sample.SCL,
    sample.dataMask,
  ];
}
