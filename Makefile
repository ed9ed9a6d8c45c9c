# Shortcuts; the README's two commands are `bash scripts/main.sh` and `bash scripts/test.sh`.
.PHONY: run test setup demo bench
run:
	bash scripts/main.sh
test:
	bash scripts/test.sh
setup:
	bash scripts/setup.sh
demo: setup
	.venv/bin/semicl demo
bench: setup
	.venv/bin/python benchmarks/pixel_loss.py --quick
