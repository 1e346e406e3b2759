"""Customer names that look like an AR book: multiword, legal suffixes, some longer than a bank's 35-character
name field, parents with subsidiaries named after them."""

from __future__ import annotations

import random

ADJ = ["Pine", "Coastal", "Summit", "Northern", "Blue Ridge", "Harbor", "Granite", "Cedar", "Silver Lake", "Prairie",
       "Red Rock", "Golden Valley", "Atlantic", "Pacific", "Lakeside", "Riverbend", "Ironwood", "Maple", "Evergreen",
       "Sunrise", "Highland", "Westfield", "Eastgate", "Oakmont", "Meridian", "Keystone", "Liberty", "Pioneer",
       "Frontier", "Heritage", "Crescent", "Horizon", "Sterling", "Windmill", "Copper", "Falcon", "Beacon", "Cardinal",
       "Orchard", "Willow", "Stonebridge", "Bayview", "Clearwater", "Hillcrest", "Twin Rivers", "Great Plains",
       "Lone Star", "Bluewater", "Redwood", "Timberline", "Northstar", "Southport", "Fairview", "Brookside", "Ashford",
       "Kingsley", "Glenwood", "Silverline", "Union", "Tri-County"]
SURNAMES = ["Hendricks", "Alvarez", "O'Neill", "Kowalski", "Schneider", "Nguyen", "Patel", "Johansson", "Brennan",
            "Moreau", "Rossi", "Tanaka", "Okafor", "Fischer", "Larsen", "Dubois", "Ramirez", "Whitaker", "Goldberg",
            "Castillo", "McAllister", "Van der Berg", "Lindqvist", "Harrington", "Delgado", "Novak", "Becker",
            "Sullivan", "Marchetti", "Yamamoto"]
INDUSTRY = ["Grocers", "Foods", "Logistics", "Hardware", "Supply", "Distribution", "Building Materials",
            "Health Systems", "Auto Parts", "Pharmacy", "Electrical Supply", "Restaurant Group", "Office Products",
            "Packaging", "Farms", "Beverages", "Marine Services", "Medical Supply", "Industrial Tools",
            "Home Furnishings", "Textiles", "Paper Products", "Plumbing Supply", "Pet Supplies", "Garden Centers",
            "Convenience Stores", "Fresh Markets", "Wholesale", "Hospitality", "Dental Supply"]
REGIONS = ["Midwest", "West", "Northeast", "Southeast", "of Texas", "of Ohio", "Canada", "UK", "Mountain",
           "Gulf Coast", "Pacific Northwest", "Central"]
SUFFIXES = ["Inc."] * 30 + ["LLC"] * 25 + ["Ltd."] * 10 + ["Corp."] * 10 + ["Co."] * 8 + ["GmbH"] * 5 + \
           ["B.V."] * 4 + ["S.A."] * 4 + ["PLC"] * 4


def base_name(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.45:
        return f"{rng.choice(ADJ)} {rng.choice(INDUSTRY)}"
    if roll < 0.60:
        return f"{rng.choice(SURNAMES)} & Sons {rng.choice(INDUSTRY)}"
    if roll < 0.75:
        return f"{rng.choice(SURNAMES)} {rng.choice(INDUSTRY)}"
    if roll < 0.88:
        return f"{rng.choice(ADJ)} {rng.choice(SURNAMES)} {rng.choice(INDUSTRY)}"
    # The long ones: longer than the 35 characters a BAI2 or MT940 name field keeps.
    a, b = rng.sample(INDUSTRY, 2)
    return f"{rng.choice(ADJ)} Regional {a} and {b} Services"


def customer_names(rng: random.Random, n: int) -> list[str]:
    seen: set[str] = set()
    out = []
    while len(out) < n:
        base = base_name(rng)
        name = f"{base} {rng.choice(SUFFIXES)}"
        if name in seen:
            name = f"{base} {rng.choice(REGIONS)} {rng.choice(SUFFIXES)}"
        if name in seen:
            continue
        seen.add(name)
        out.append(name)
    return out


def subsidiary_name(rng: random.Random, parent: str, taken: set[str]) -> str:
    stem = parent.rsplit(" ", 1)[0]
    for _ in range(20):
        name = f"{stem} {rng.choice(REGIONS)} {rng.choice(SUFFIXES)}"
        if name not in taken:
            return name
    return f"{stem} {rng.choice(REGIONS)} Holdings {rng.randint(2, 99)} {rng.choice(SUFFIXES)}"


def stranger_name(rng: random.Random, taken: set[str]) -> str:
    """A payer that is not a customer (a new customer not yet in the ERP, a misdirected payment)."""
    while True:
        kind = rng.choice(["Trading", "Ventures", "Partners", "Imports"])
        name = f"{rng.choice(SURNAMES)} {rng.choice(ADJ)} {kind} {rng.choice(SUFFIXES)}"
        if name not in taken:
            return name
