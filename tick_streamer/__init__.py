"""The ``streamer`` command: one door to the server (``serve``), the Python client's printer
(``tail``) and the load tester (``load``).

It sits above both sides of the wire, so that neither imports the other: the server's command
line is :mod:`streamer.cli`, the client's :mod:`clients.feed.cli`, the load tester's
:mod:`clients.load.cli`; this package only puts them under one name.
"""
