select * from ops.board_sources
