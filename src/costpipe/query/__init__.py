"""The query layer: :mod:`.api` is the one read interface every readable store implements."""
