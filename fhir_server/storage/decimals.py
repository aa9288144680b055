"""FHIR decimals in MongoDB: a `Decimal` (a JSON number a float would not write back as it
came, e.g. `13.50`) is stored as a Decimal128, which keeps its digits, and read back as a
`Decimal`. The JSON reader refuses a number beyond Decimal128 (conformance/json_format.py);
one that reaches storage by another way is stored as the nearest double, never an error."""

from decimal import Decimal, DecimalException

from bson.codec_options import TypeCodec, TypeRegistry
from bson.decimal128 import Decimal128


class _DecimalCodec(TypeCodec):
    python_type = Decimal
    bson_type = Decimal128

    def transform_python(self, value: Decimal) -> Decimal128 | float:
        try:
            return Decimal128(value)
        except DecimalException:  # inexact in 34 digits, or an exponent out of range
            return float(value)

    def transform_bson(self, value: Decimal128) -> Decimal:
        return value.to_decimal()


DECIMALS = TypeRegistry([_DecimalCodec()])
