"""A realistic sample catalogue for demos and tests: a few hundred SKUs with valid EAN-13 barcodes."""

import random

from .barcodes import ean13
from .wire import CatalogueItem

# (family, price in cents, aisle) — a mid-size sports and outdoor chain
FAMILIES = [
    ("Chaussures de trail", 8999, "A"),
    ("Chaussures de running", 6999, "A"),
    ("Veste imperméable", 5999, "B"),
    ("Polaire", 2499, "B"),
    ("T-shirt technique", 1299, "B"),
    ("Short de sport", 1499, "B"),
    ("Legging", 1999, "B"),
    ("Chaussettes (lot de 3)", 899, "C"),
    ("Sac à dos 20 L", 3499, "D"),
    ("Sac à dos 40 L", 5999, "D"),
    ("Gourde 750 ml", 999, "D"),
    ("Lampe frontale", 2499, "D"),
    ("Tente 2 places", 7999, "E"),
    ("Sac de couchage", 4999, "E"),
    ("Matelas autogonflant", 3999, "E"),
    ("Ballon de football", 1999, "F"),
    ("Raquette de badminton", 2299, "F"),
    ("Balles de tennis (x4)", 799, "F"),
    ("Casque de vélo", 2999, "G"),
    ("Gants de vélo", 1499, "G"),
    ("Pompe à vélo", 1999, "G"),
    ("Tapis de yoga", 1999, "H"),
    ("Haltères 2 x 2 kg", 1799, "H"),
    ("Corde à sauter", 699, "H"),
    ("Maillot de bain", 1999, "I"),
    ("Lunettes de natation", 999, "I"),
    ("Bonnet de bain", 499, "I"),
    ("Bâtons de marche", 2999, "D"),
    ("Casquette", 999, "C"),
    ("Bonnet", 799, "C"),
]
VARIANTS = ["XS", "S", "M", "L", "XL", "Noir", "Bleu", "Rouge", "Vert", "Gris"]
GS1_FRANCE_PREFIX = "376"  # France's GS1 prefixes are 300-379


def sample_catalogue(size: int = 300, seed: int = 7) -> list[CatalogueItem]:
    """``size`` items, the same every time for a given seed."""
    rng = random.Random(seed)
    items = []
    for n in range(size):
        family, price, aisle = FAMILIES[n % len(FAMILIES)]
        variant = VARIANTS[(n // len(FAMILIES)) % len(VARIANTS)]
        sku = f"SKU-{n + 1:05d}"
        body = f"{GS1_FRANCE_PREFIX}{1234:04d}{n + 1:05d}"
        barcodes = [ean13(body)]
        if n % 10 == 0:  # some products carry a second barcode (an older packaging)
            barcodes.append(ean13(f"{GS1_FRANCE_PREFIX}9876{n + 1:05d}"))
        cents = price + rng.choice([0, 0, 0, 200, 500, -100])
        items.append(
            CatalogueItem(
                sku=sku,
                name=f"{family} {variant}",
                price_cents=cents,
                barcodes=barcodes,
                location=f"{aisle}{1 + n % 6}-{1 + n % 4}",
            )
        )
    return items
