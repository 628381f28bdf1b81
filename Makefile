.PHONY: test lint demo bench
test:
	python3 -m nox
lint:
	ruff check .
demo:
	saas-retention demo
bench:
	saas-retention bench --sizes 10k,100k --repeat 3 --out benchmarks
