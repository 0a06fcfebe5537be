"""Retail barcodes: EAN-13, EAN-8 and UPC-A check digits."""


def check_digit(body: str) -> int:
    """The GS1 check digit for the digits before it (weights 3,1,3,... from the right)."""
    total = 0
    for position, char in enumerate(reversed(body)):
        total += int(char) * (3 if position % 2 == 0 else 1)
    return (10 - total % 10) % 10


def is_valid_gtin(code: str) -> bool:
    """True for an EAN-8, UPC-A (12) or EAN-13 code whose check digit is right."""
    if not code.isdigit() or len(code) not in (8, 12, 13):
        return False
    return check_digit(code[:-1]) == int(code[-1])


def ean13(body12: str) -> str:
    """Complete twelve digits into a valid EAN-13."""
    if len(body12) != 12 or not body12.isdigit():
        raise ValueError("an EAN-13 body is 12 digits")
    return body12 + str(check_digit(body12))
