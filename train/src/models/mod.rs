//! The models room: the teacher's text model (all-MiniLM-L6-v2 in burn) and its token-table
//! distillation, the teacher, the next-item loss (full or sampled softmax) and the training loop
//! of teacher and students.

pub mod bert;
pub mod checkpoint;
pub mod device;
pub mod model2vec;
pub mod softmax;
pub mod teacher;
pub mod trainer;
