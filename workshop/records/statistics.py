"""What a query scanned and what Athena bills for it: the statistics both targets report.

On aws they are Athena's own (through pyathena); locally the engine computes them as Athena
bills (https://aws.amazon.com/athena/pricing/): $5 per TB scanned, rounded up to the megabyte,
10 MB at least per query.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ATHENA_PER_TB = 5.0  # USD, https://aws.amazon.com/athena/pricing/
ATHENA_MIN_MB_PER_QUERY = 10
MB = 1024 * 1024
TB = 1024 ** 4


@dataclass(frozen=True)
class QueryStatistics:
    """What a query cost: projected partitions enumerated, bytes scanned, engine time.

    None where the target does not tell: Athena does not report the partitions it projected,
    and the local engine's bytes are those of the objects in the partitions it reads.
    """

    partitions: int | None = None  # projected partitions enumerated (one S3 LIST each on AWS)
    data_scanned_in_bytes: int | None = None
    engine_execution_time_in_millis: int | None = None

    @property
    def billed_bytes(self) -> int | None:
        """The bytes Athena bills: rounded up to the megabyte, 10 MB at least per query
        (https://aws.amazon.com/athena/pricing/)."""
        if self.data_scanned_in_bytes is None:
            return None
        megabytes = max(math.ceil(self.data_scanned_in_bytes / MB), ATHENA_MIN_MB_PER_QUERY)
        return megabytes * MB

    @property
    def cost_usd(self) -> float | None:
        """What the query costs on Athena, at ATHENA_PER_TB dollars a terabyte scanned."""
        billed = self.billed_bytes
        return None if billed is None else billed / TB * ATHENA_PER_TB

    def __str__(self) -> str:
        if self.data_scanned_in_bytes is None:
            return "scanned: not reported"
        text = (f"scanned {self.data_scanned_in_bytes / MB:.2f} MB (billed "
                f"{(self.billed_bytes or 0) // MB} MB), ${self.cost_usd:.6f}")
        if self.partitions is not None:
            text += f"; {self.partitions} projected partition(s) listed"
        return text
