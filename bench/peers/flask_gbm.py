"""The original batch service, as the article that started this project wrote it: Flask,
``GET /gbm`` returning ``{"result": [...]}``, run by Flask's own threaded server. Clients that
want a live price have to poll it; the benchmarks do exactly that, at the same rate as the
streams, to show what request/response costs against a push feed.

    .venv/bin/python bench/peers/flask_gbm.py [--port 0]
"""

from __future__ import annotations

import argparse
import logging
import socket

import numpy as np
from flask import Flask, Response, jsonify, request

app = Flask(__name__)
rng = np.random.default_rng()


@app.route("/gbm")
def gbm() -> Response:
    args = request.args
    periods = int(args["periods"])
    start_price = float(args["startPrice"])
    mu, sigma, delta = float(args["mu"]), float(args["sigma"]), float(args["delta"])
    dt = delta / 252
    steps = np.exp((mu - sigma**2 / 2) * dt + sigma * np.sqrt(dt) * rng.standard_normal(periods - 1))
    prices = start_price * np.cumprod(np.concatenate([[1.0], steps]))
    return jsonify(result=prices.tolist())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    port = parser.parse_args().port
    if port == 0:  # Flask cannot report a port it picked, so pick one first
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    print(f"flask: http://127.0.0.1:{port}/gbm", flush=True)
    app.run(host="127.0.0.1", port=port, threaded=True)


if __name__ == "__main__":
    main()
