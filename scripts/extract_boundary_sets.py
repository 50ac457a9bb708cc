"""Extract Lambeth and Southwark on three ward boundary sets, with their LSOAs, into tests/data/boundaries.

Run once by a maintainer with the shared source files (see tests/data/boundaries/SOURCE.md); the plugin and
the tests never read them. Lambeth's wards did not change between 2014 and 2018, Southwark's were redrawn in
2018, and both were redrawn in 2022: the tests of issue 17 count the same crimes on each set.

    /usr/bin/python3 scripts/extract_boundary_sets.py <shared data folder> tests/data/boundaries
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from osgeo import gdal, ogr, osr

BOROUGHS = {"E09000022": "Lambeth", "E09000028": "Southwark"}


def _copy(src: str, dst: str, layer: str, where: str, select: str) -> int:
    """Copy the features of src matching where into layer of the GeoPackage dst, in EPSG:27700."""
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(27700)
    options = gdal.VectorTranslateOptions(
        format="GPKG",
        accessMode="update" if Path(dst).exists() else None,
        layerName=layer,
        where=where,
        selectFields=select.split(","),
        dstSRS=srs,
        srcSRS=srs,  # the MapInfo files carry EPSG:27700's parameters without its code; no datum shift happens
        geometryType="PROMOTE_TO_MULTI",
    )
    gdal.VectorTranslate(dst, src, options=options)
    ds = ogr.Open(dst)
    return ds.GetLayerByName(layer).GetFeatureCount()


def main(shared: str, out_dir: str) -> None:
    """Write boundary_sets.gpkg and the CSV extracts."""
    data, out = Path(shared), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gpkg = out / "boundary_sets.gpkg"
    if gpkg.exists():
        gpkg.unlink()
    codes = ",".join(f"'{c}'" for c in BOROUGHS)
    ds = data / "london_datastore_wards_2014_2018"
    ons = data / "ons_london_boundaries_2021_2024"
    sets = [
        (
            ds / "London-wards-2014/London-wards-2014-Mapinfo/London_Ward.tab",
            "wards_2014",
            f"LB_GSS_Code IN ({codes})",
            "GSS_Code,Name,LB_GSS_Code,Borough",
        ),
        (
            ds / "London-wards-2018/London-wards-2018_Mapinfo/London_Ward.tab",
            "wards_2018",
            f"LAGSSCODE IN ({codes})",
            "GSS_CODE,NAME,LAGSSCODE,DISTRICT",
        ),
        (ons / "london_borough.gpkg", "boroughs", f"LAD24CD IN ({codes})", "LAD24CD,LAD24NM"),
    ]
    with open(
        ons / "LSOA_(2021)_to_Electoral_Ward_(2024)_to_LAD_(2024)_Best_Fit_Lookup_in_EW.csv",
        encoding="utf-8-sig",
        newline="",
    ) as fh:
        best_fit = [r for r in csv.DictReader(fh) if r["LAD24CD"] in BOROUGHS]
    wards24 = sorted({r["WD24CD"] for r in best_fit})
    sets.append(
        (
            ons / "london_ward.gpkg",
            "wards_2024",
            "WD24CD IN ({})".format(",".join(f"'{w}'" for w in wards24)),
            "WD24CD,WD24NM",
        )
    )
    lsoa21 = sorted({r["LSOA21CD"] for r in best_fit})
    sets.append(
        (
            ons / "london_lsoa.gpkg",
            "lsoa_2021",
            "LSOA21CD IN ({})".format(",".join(f"'{c}'" for c in lsoa21)),
            "LSOA21CD,LSOA21NM",
        )
    )
    sets.append(
        (
            data / "ons_london_lsoa2011_boundaries/london-2011-lsoa-gen20.shp",
            "lsoa_2011",
            f"LAD11CD IN ({codes})",
            "LSOA11CD,LSOA11NM,LAD11CD",
        )
    )
    for src, layer, where, select in sets:
        print(layer, _copy(str(src), str(gpkg), layer, where, select))
    with open(
        ons / "LSOA_(2011)_to_LSOA_(2021)_to_Local_Authority_District_(2022)_Exact_Fit_Lookup_for_EW_(V3).csv",
        encoding="utf-8-sig",
        newline="",
    ) as fh:
        exact = [r for r in csv.DictReader(fh) if r["LAD22CD"] in BOROUGHS]
    exact.sort(key=lambda r: (r["LSOA11CD"], r["LSOA21CD"]))
    columns = ["LSOA11CD", "LSOA21CD", "CHGIND", "LAD22CD", "LAD22NM"]
    with open(out / "lsoa11_to_lsoa21_exact_fit.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for r in exact:
            w.writerow([r[c] for c in columns])
    with open(data / "ons_lsoa_population/london-mid2019-pop.csv", encoding="utf-8-sig", newline="") as fh:
        pops = [r for r in csv.DictReader(fh) if r["LAD11CD"] in BOROUGHS]
    pops.sort(key=lambda r: r["LSOA11CD"])
    with open(out / "lsoa11_population_mid2019.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["LSOA11CD", "LAD11CD", "population"])
        for r in pops:
            w.writerow([r["LSOA11CD"], r["LAD11CD"], r["Persons_All-Ages"]])
    print(
        f"{len(exact)} exact-fit rows, {len(pops)} mid-2019 LSOA rows, "
        f"total {sum(int(r['Persons_All-Ages']) for r in pops):,}"
    )


if __name__ == "__main__":
    main(*sys.argv[1:3])
