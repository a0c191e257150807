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
// 0 is the nodata value, and portwatch takes a pixel with any band at 0 as nodata.
// A real reflectance can be 0, though: UINT16 clamps the negative harmonised
// reflectance of dark water in B08/B11 to 0. So where dataMask is 1 each reflectance
// band is at least 1 (1e-4 reflectance, below the noise of every band), and 0 stays
// reserved for nodata, as in ESA's L2A products (NODATA 0, valid digital numbers
// from 1; Sentinel-2 Products Specification Document, S2-PDGS-TAS-DI-PSD).
// SCL is left as it is: its class 0 means no data.
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

// Reflectance (0-1) as digital numbers x 10000, at least 1 where there is data.
function dn(reflectance, dataMask) {
  return dataMask === 1 ? Math.max(10000 * reflectance, 1) : 0;
}

function evaluatePixel(sample) {
  const m = sample.dataMask;
  return [
    dn(sample.B02, m),
    dn(sample.B03, m),
    dn(sample.B04, m),
    dn(sample.B08, m),
    dn(sample.B11, m),
    sample.SCL,
    m,
  ];
}
