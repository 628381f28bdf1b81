.PHONY: test lint demo
test:
	python3 -m nox
lint:
	ruff check .
demo:
	saas-retention demo
