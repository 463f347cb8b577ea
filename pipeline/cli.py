"""Placeholder replaced below."""
import sys
if __name__ == "__main__":
    print("0.1.0"); sys.exit(0)
def app() -> None: ...
