"""Synthetic rows in the penguins sample's schema, for benchmarks at any size.

Species depend on the measurements, so the model has something to learn; a few cells are
missing (`NA`), as in the real sample.
"""

from __future__ import annotations

import numpy as np

HEADER = "species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year"
SPECIES = np.array(["Adelie", "Chinstrap", "Gentoo"])
ISLANDS = np.array(["Biscoe", "Dream", "Torgersen"])
SEXES = np.array(["female", "male", "NA"])
# Per species: mean bill length, bill depth, flipper length, body mass.
MEANS = np.array(
    [[38.8, 18.3, 190.0, 3700.0], [48.8, 18.4, 196.0, 3730.0], [47.5, 15.0, 217.0, 5080.0]]
)
SCALES = np.array([2.7, 1.2, 6.5, 450.0])


def write_csv(path: str, rows: int, seed: int = 0, chunk: int = 200_000) -> None:
    rng = np.random.default_rng(seed)
    with open(path, "w") as f:
        f.write(HEADER + "\n")
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            species = rng.integers(0, 3, n)
            values = MEANS[species] + rng.normal(size=(n, 4)) * SCALES
            island = ISLANDS[rng.integers(0, 3, n)]
            sex = SEXES[rng.choice(3, n, p=[0.49, 0.49, 0.02])]
            lines = [
                f"{SPECIES[s]},{i},{v[0]:.1f},{v[1]:.1f},{v[2]:.0f},{v[3]:.0f},{x},2008"
                for s, i, v, x in zip(species, island, values, sex, strict=True)
            ]
            f.write("\n".join(lines) + "\n")
