select * from marts.frequent_visitor_behaviors
