-- The users in their label window on the last scored day: the score distribution.
select score_date, user_id, days_since_signup, revisit_score, top_reasons
from marts.user_revisit_scores
where score_date = (select max(score_date) from marts.user_revisit_scores)
