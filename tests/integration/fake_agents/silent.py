"""Never writes, never reads stdin; sleeps (60 s at most)."""

import time

for _ in range(600):
    time.sleep(0.1)
